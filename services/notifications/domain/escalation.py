"""Escalation of acute referrals nobody acknowledged: the team manager first, then the head of unit.

An acute assignment starts watching its referral (unless it was acknowledged already: an
acknowledgement may arrive first); an acknowledgement stops it. Each level is told once, under a
source event id derived from the referral's watch and the level, so a level told again (a
retried transaction) makes no second delivery.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.notifications.domain.messages import Notice
from services.notifications.domain.routing import EMAIL, NewDelivery, Occurrence, Target, new_delivery
from services.notifications.domain.unit import Unit

LAST_LEVEL = 2
"""Level 0: nobody told yet; 1: the manager was told; 2: the head of unit was told (done)."""

ASSIGNMENTS = frozenset({"referral.assigned", "referral.reassigned"})


@dataclass(frozen=True)
class Escalation:
    """An acute referral waiting for acknowledgement, and the next level's due time."""

    referral_id: str
    family_key: str
    team: str
    source_event_id: uuid.UUID  # the assignment that started it
    due_at: datetime
    since: datetime  # when the referral was assigned
    level: int = 0


def escalation_for(occurrence: Occurrence, unit: Unit) -> Escalation | None:
    """The watch an acute assignment starts; None for anything else."""
    o = occurrence
    if o.kind not in ASSIGNMENTS or not o.acute or o.referral_id is None or o.team is None:
        return None
    return Escalation(
        o.referral_id, o.family_key, o.team, o.event_id, o.occurred_at + unit.escalate_after, o.occurred_at
    )


def is_due(escalation: Escalation, now: datetime) -> bool:
    """A level is left to tell, and its time has come."""
    return escalation.level < LAST_LEVEL and escalation.due_at <= now


def recipient(escalation: Escalation, unit: Unit) -> str:
    """Who the next level tells: the team's manager, then (or if the team is unknown) the head."""
    team = unit.team(escalation.team)
    return team.manager if escalation.level == 0 and team else unit.head_of_unit


def level_event_id(escalation: Escalation) -> uuid.UUID:
    """The stable source event id of the next level."""
    return uuid.uuid5(escalation.source_event_id, f"escalation:{escalation.level + 1}")


def escalate(escalation: Escalation, unit: Unit, now: datetime) -> tuple[NewDelivery, Escalation]:
    """The next level's delivery, and the escalation with its following level due `after` later."""
    notice = Notice(
        "escalation", unit.link(escalation.referral_id), escalation.referral_id,
        unit.team_name(escalation.team), acute=True, at=escalation.since,
    )  # fmt: skip
    target = Target(recipient(escalation, unit), EMAIL)
    delivery = new_delivery(notice, target, unit, now, level_event_id(escalation), escalation.family_key)
    advanced = Escalation(
        escalation.referral_id, escalation.family_key, escalation.team, escalation.source_event_id,
        escalation.due_at + unit.escalate_after, escalation.since, escalation.level + 1,
    )  # fmt: skip
    return delivery, advanced
