"""The safety flag on a referral (issue 22): "two staff on home visits".

Set or cleared by whoever has the relation for it (domain/access.py, `Action.SAFETY_FLAG`: the
assigned caseworker, the team's manager, the head of unit, intake), shown in the queues and on
the dossier, kept through a reassignment (it is the referral's, not the caseworker's). Every
change is kept: who, when, to what.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.assignment.domain.access import Action, Actor, authorize
from services.assignment.domain.cases import Case
from services.assignment.domain.unit import Unit

FLAGS = ("two_staff_home_visits",)


@dataclass(frozen=True)
class SafetyFlagChange:
    """A referral's flag set (`safety_flag`) or cleared (None) by someone at a time."""

    referral_id: str
    safety_flag: str | None
    set_by: str
    set_at: datetime


def change_flag(case: Case, flag: str | None, actor: Actor, unit: Unit, now: datetime) -> SafetyFlagChange:
    """The change, if the actor may make it (NotPermitted otherwise); `flag` is one of FLAGS or None."""
    if flag is not None and flag not in FLAGS:
        raise ValueError(f"unknown safety flag {flag!r}")
    authorize(actor, Action.SAFETY_FLAG, case.parties, unit.organisation)
    return SafetyFlagChange(case.referral_id, flag, actor.staff_id, now)
