"""Registration of a referral in the unit's system of record (issue 19): the intake group's work.

A referral is "to register" from receipt until intake reports it registered; the registration
clock (`deadlines.registration_due`) runs until then. The first registration counts: a repeat,
or a second one with another time, changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.assignment.domain.batch import plannable
from services.assignment.domain.errors import ImplausibleTime


@dataclass(frozen=True)
class Registration:
    """Intake registered the referral at `registered_at`; `by` is a staff id."""

    referral_id: str
    registered_at: datetime
    by: str

    def __post_init__(self) -> None:
        if not plannable(self.registered_at):
            raise ImplausibleTime("registered_at")
