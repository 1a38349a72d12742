"""Consultations booked in the fixed meeting times, and who may see or cancel one (issue 22).

A consultation's topic is free text the booker typed: it is shown only to the booker, the
members of the consultation's team and that team's manager, never in an event, an email or a
card. Cancelling is for the booker, the team's manager and the head of unit, each by relation.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime

from services.assignment.domain.access import Actor, Organisation
from services.assignment.domain.errors import AssignmentRefused
from services.assignment.domain.meetings import AlreadyCancelled

TOPIC_MAX = 200
MAX_ATTEMPTS = 64
"""How many free bookings one request tries before giving up: each loss is another request's
win, so this bounds a burst of simultaneous bookings of one team."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InvalidTopic(AssignmentRefused):
    """A topic is 1 to 200 characters of plain text on one line."""

    def __init__(self) -> None:
        super().__init__(f"`topic` must be 1..{TOPIC_MAX} characters of plain text on one line")


@dataclass(frozen=True)
class Consultation:
    """A booked consultation; `sequence` is its invitation's iCalendar SEQUENCE."""

    consultation_id: str
    slot_id: str
    team: str
    starts_at: datetime
    ends_at: datetime
    requester: str
    topic: str
    referral_id: str | None
    booked_at: datetime
    sequence: int = 0
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None
    reminded_at: datetime | None = None


def checked_topic(topic: str) -> str:
    """The topic without surrounding blanks; InvalidTopic when empty, too long or not one line."""
    clean = topic.strip()
    if not 1 <= len(clean) <= TOPIC_MAX or _CONTROL.search(clean):
        raise InvalidTopic
    return clean


def may_cancel(consultation: Consultation, actor: Actor, org: Organisation) -> bool:
    """The booker, the manager of the consultation's team, the head of unit."""
    return (
        actor.staff_id == consultation.requester
        or ("manager" in actor.roles and org.managers.get(consultation.team) == actor.staff_id)
        or ("head_of_unit" in actor.roles and actor.staff_id == org.head_of_unit)
    )


def may_read_topic(consultation: Consultation, actor: Actor, org: Organisation) -> bool:
    """The booker, the members of the consultation's team and its manager."""
    return (
        actor.staff_id == consultation.requester
        or org.teams.get(actor.staff_id) == consultation.team
        or org.managers.get(consultation.team) == actor.staff_id
    )


def cancel(consultation: Consultation, by: str, at: datetime) -> Consultation:
    """The consultation cancelled by `by` at `at`, its SEQUENCE one higher; AlreadyCancelled."""
    if consultation.cancelled_at is not None:
        raise AlreadyCancelled
    return dataclasses.replace(
        consultation, cancelled_at=at, cancelled_by=by, sequence=consultation.sequence + 1
    )


def reminder_due(consultation: Consultation, lead: datetime, now: datetime) -> bool:
    """Whether a reminder is due at `now`: live, not reminded, starting after now by at most
    the lead (`lead` is now + the configured reminder)."""
    return (
        consultation.cancelled_at is None
        and consultation.reminded_at is None
        and now < consultation.starts_at <= lead
    )
