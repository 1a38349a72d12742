"""The register extract (GDPR art. 15, limited by secrecy; CONTRACTS.md §2a): the head of unit lists
what intake holds about a personal identity number, for the municipality's register-extract process.

The number is never stored or logged: it is turned into the same keyed hashes the referrals carry
(`child_key`, and the `family_key` of a guardian whose number keyed the family), so referrals are
found also after their received copy was erased. Every lookup is in the access log, committed
before anything is returned: one row per referral listed, or one row (`referral_id` "*") when
none was found or the caller was refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.intake.domain.access_log import AccessAction, AccessEntry, AccessRelation, Outcome
from services.intake.ports import HeldAbout, IntakeUnitOfWork
from shared.clock import Clock
from shared.crypto import pseudonym

NO_SINGLE_REFERRAL = "*"
# Roles a personal number cannot be matched to: the portal's reporter has no number field.
UNRESOLVABLE_ROLES = ("reporter",)


class ExtractRefused(Exception):
    """Only the head of unit takes a register extract (the attempt is logged)."""


@dataclass(frozen=True)
class Extracting:
    """What the register extract needs; `main.py` builds it."""

    unit_of_work: Callable[[], IntakeUnitOfWork]
    pepper: bytes
    clock: Clock


@dataclass(frozen=True)
class Asker:
    """Who asks, from where, in which request."""

    staff: str
    roles: frozenset[str]
    client_addr: str | None
    request_id: str | None


def may_extract(asker: Asker) -> bool:
    """Whether the asker may take a register extract: the head of unit only."""
    return "head_of_unit" in asker.roles


async def refuse(deps: Extracting, asker: Asker) -> None:
    """Log a refused attempt (committed) and raise ExtractRefused; no number is looked at."""
    async with deps.unit_of_work() as uow:
        for entry in _entries(asker, [], "", False, deps.clock.now()):
            await uow.access_log.append(entry)
        await uow.commit()
    raise ExtractRefused(asker.staff)


async def register_extract(deps: Extracting, asker: Asker, personal_number: str) -> dict[str, Any]:
    """What intake holds about the person with this (normalised, 12-digit) number; ExtractRefused
    for anyone but the head of unit. Logged and committed before it is returned."""
    now = deps.clock.now()
    allowed = may_extract(asker)
    child_key = pseudonym(deps.pepper, "child", personal_number)
    family_key = pseudonym(deps.pepper, "family", personal_number)
    async with deps.unit_of_work() as uow:
        held = await uow.retention.about(child_key, family_key) if allowed else []
        for entry in _entries(asker, held, child_key, allowed, now):
            await uow.access_log.append(entry)
        await uow.commit()
    if not allowed:
        raise ExtractRefused(asker.staff)
    return {
        "referrals": [_listed(h) for h in held],
        "roles_not_resolvable": list(UNRESOLVABLE_ROLES),
        "generated_at": now.isoformat(),
    }


def _entries(
    asker: Asker, held: list[HeldAbout], child_key: str, allowed: bool, now: datetime
) -> list[AccessEntry]:
    def entry(referral_id: str) -> AccessEntry:
        return AccessEntry(
            at=now, staff=asker.staff, role=",".join(sorted(asker.roles)),
            relation=AccessRelation.HEAD_OF_UNIT if allowed else AccessRelation.NONE,
            referral_id=referral_id, child_key=child_key if allowed else None,
            action=AccessAction.REGISTER_EXTRACT if allowed else AccessAction.DENIED,
            reason="register extract (GDPR art. 15)",
            outcome=Outcome.ALLOWED if allowed else Outcome.DENIED,
            client_addr=asker.client_addr, request_id=asker.request_id,
        )  # fmt: skip

    return [entry(h.referral_id) for h in held] or [entry(NO_SINGLE_REFERRAL)]


def _listed(h: HeldAbout) -> dict[str, Any]:
    erased = h.erasure
    return {
        "referral_id": h.referral_id,
        "role": h.role,
        "kind": h.kind,
        "received_at": h.received_at.isoformat(),
        "registered_at": h.registered_at.isoformat() if h.registered_at else None,
        "legal_hold": h.legal_hold,
        "held": "work record only" if erased else "received copy (encrypted) and work record",
        "erased": None
        if erased is None
        else {"erased_at": erased.erased_at.isoformat(), "rule": erased.rule},
    }
