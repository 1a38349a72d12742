"""The access log of personal details (issue 19, CONTRACTS.md §2a): what one row says.

Every dossier read, export, attachment download, reveal, break-the-glass and refused attempt is
one entry, written (and committed) before any personal detail is returned: no row, no data.
Rows are chained: each carries the hash of its predecessor, so a changed, missing or reordered
row is found by `referral-router verify-access-log`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AccessAction(StrEnum):
    """What was done (or tried) with a referral's personal details."""

    READ = "read"
    EXPORT = "export"
    ATTACHMENT = "attachment"
    REVEAL = "reveal"
    BREAK_GLASS = "break_glass"
    REGISTER_EXTRACT = "register_extract"  # issue 23: the head of unit listed what is held about a person
    DENIED = "denied"


class AccessRelation(StrEnum):
    """How the reader stood to the referral when the entry was written."""

    ASSIGNED = "assigned"
    MENTOR = "mentor"
    TEAM_MANAGER = "team_manager"
    HEAD_OF_UNIT = "head_of_unit"
    INTAKE = "intake"
    BREAK_GLASS = "break_glass"
    NONE = "none"


class Outcome(StrEnum):
    """Whether the access was granted."""

    ALLOWED = "allowed"
    DENIED = "denied"


@dataclass(frozen=True)
class AccessEntry:
    """One access, as the use case states it (before it is chained)."""

    at: datetime
    staff: str
    role: str  # the roles the token carried, comma-separated, sorted
    relation: AccessRelation
    referral_id: str  # "*" for a register extract that found no referral (a lookup by person)
    child_key: str | None  # None when the referral is unknown to intake (the entry still is written)
    action: AccessAction
    reason: str | None
    outcome: Outcome
    client_addr: str | None
    request_id: str | None


@dataclass(frozen=True)
class LoggedEntry:
    """An entry as stored: its place in the chain and its hash."""

    seq: int
    entry: AccessEntry
    prev_hash: bytes
    hash: bytes
