"""What the intake handlers need from storage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.intake.domain import ReferralOut


@dataclass(frozen=True)
class StoredSubmission:
    """A submission already stored: its digest and the answer given the first time."""

    body_digest: bytes
    response: dict[str, Any]


@dataclass(frozen=True)
class NewSubmission:
    """Everything stored for a first-time submission."""

    submission_id: str
    client_id: str
    body_digest: bytes
    received_at: datetime
    kind: str
    acute_danger: bool
    key_id: str
    ciphertext: bytes
    referrals: list[ReferralOut]
    response: dict[str, Any]
