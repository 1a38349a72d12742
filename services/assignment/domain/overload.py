"""Overload flags (issue 22): a caseworker says "I am at my limit", their manager answers.

A flag is open until answered; escalation is a mark on an open flag once `escalate_at` has
passed unanswered (counted in office hours, so a flag raised on Friday afternoon does not reach
the head of unit on Saturday). The answer is one of: relieve (capacity times a factor until a
time), reassign (named open referrals of the person move to teammates), keep (with a comment
why). While a flag is open the person gets no new referrals except the same child's open case
(domain/decide.py); a relief scales their capacity (domain/selection.py).

The note is free text the person typed: it never leaves assignment's API (no event, no log).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta, tzinfo

from services.assignment.domain.access import Actor
from services.assignment.domain.errors import AssignmentRefused, NotPermitted
from services.assignment.domain.model import OfficeCalendar

NOTE_MAX = 300
COMMENT_MAX = 500
ACTIONS = ("relieve", "reassign", "keep")
RESPONDERS = "the manager of the person's team, the head of unit"


class InvalidOverloadResponse(AssignmentRefused):
    """A response that breaks the rules of its action; `field` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotACaseworker(AssignmentRefused):
    """Only a caseworker in a team of the unit can flag overload (others get no referrals)."""

    def __init__(self) -> None:
        super().__init__("only a caseworker in a team of the unit can raise an overload flag")


class FlagAlreadyOpen(AssignmentRefused):
    """The person has an unanswered flag: a second one would only duplicate it."""

    def __init__(self, flag_id: str) -> None:
        super().__init__(f"an overload flag of this person is still open: {flag_id}")
        self.flag_id = flag_id


class FlagAlreadyAnswered(AssignmentRefused):
    """A flag is answered once; a later change is a new flag."""

    def __init__(self) -> None:
        super().__init__("this overload flag has been answered already")


class FlagNotFound(AssignmentRefused):
    """No overload flag with this id (or none the caller may see)."""

    def __init__(self) -> None:
        super().__init__("no such overload flag")


@dataclass(frozen=True)
class OverloadFlag:
    """A flag and, once answered, its answer (one row of `overload_flags`)."""

    flag_id: str
    staff_id: str
    team: str
    note: str | None
    raised_at: datetime
    escalate_at: datetime
    escalated_at: datetime | None = None
    action: str | None = None
    responded_by: str | None = None
    responded_at: datetime | None = None
    comment: str | None = None
    capacity_factor: float | None = None
    relief_until: datetime | None = None
    reassigned: int | None = None

    @property
    def open(self) -> bool:
        """Unanswered: the person gets no new referrals (but the same child's open case)."""
        return self.responded_at is None

    def relieved_at(self, at: datetime) -> bool:
        """Whether a relief from this flag reduces the person's capacity at `at`."""
        return self.action == "relieve" and self.relief_until is not None and at < self.relief_until

    @property
    def response_seconds(self) -> int | None:
        """How long the answer took, in seconds (None while open)."""
        if self.responded_at is None:
            return None
        return int((self.responded_at - self.raised_at).total_seconds())


@dataclass(frozen=True)
class OverloadResponse:
    """What a manager answers: the action and its fields."""

    action: str
    comment: str
    by: Actor
    at: datetime
    capacity_factor: float | None = None
    until: datetime | None = None
    referral_ids: tuple[str, ...] = ()


def add_office_hours(start: datetime, hours: float, calendar: OfficeCalendar, tz: tzinfo) -> datetime:
    """The instant `hours` office hours after `start` (UTC), counting only office hours on
    office days; a start outside them counts from the next office start."""
    remaining = timedelta(hours=hours)
    cursor = start.astimezone(tz)
    day = cursor.date()
    while True:
        if calendar.is_office_day(day):
            opens = datetime.combine(day, calendar.start, tz)
            closes = datetime.combine(day, calendar.end, tz)
            begin = max(cursor, opens)
            if begin < closes:
                if remaining <= closes - begin:
                    return (begin + remaining).astimezone(UTC)
                remaining -= closes - begin
        day += timedelta(days=1)
        cursor = datetime.combine(day, time(0), tz)


def check_note(note: str | None) -> str | None:
    """The note as kept: stripped, None when empty; over NOTE_MAX characters is refused."""
    text = (note or "").strip()
    if len(text) > NOTE_MAX:
        raise InvalidOverloadResponse("note", f"at most {NOTE_MAX} characters")
    return text or None


def new_flag(
    flag_id: str, staff_id: str, team: str, note: str | None, now: datetime, escalate_at: datetime
) -> OverloadFlag:
    """A freshly raised flag (the note checked; times in UTC, as the database gives them back)."""
    return OverloadFlag(flag_id, staff_id, team, check_note(note), now.astimezone(UTC), escalate_at)


def may_raise(actor: Actor, staff_id: str) -> None:
    """Only the person themself flags their own overload; NotPermitted otherwise."""
    if actor.staff_id != staff_id:
        raise NotPermitted("raising an overload flag", "the person themself")


def may_respond(flag: OverloadFlag, actor: Actor, managers: Mapping[str, str], head_of_unit: str) -> bool:
    """The manager of the flagged person's team or the head of unit, never the person themself."""
    if actor.staff_id == flag.staff_id:
        return False
    manages = "manager" in actor.roles and managers.get(flag.team) == actor.staff_id
    heads = "head_of_unit" in actor.roles and actor.staff_id == head_of_unit
    return manages or heads


def may_see(flag: OverloadFlag, actor: Actor, managers: Mapping[str, str], head_of_unit: str) -> bool:
    """Who sees a flag (note and all): the person, their team's manager, the head of unit."""
    return actor.staff_id == flag.staff_id or may_respond(flag, actor, managers, head_of_unit)


def answer(flag: OverloadFlag, response: OverloadResponse, open_referrals: Iterable[str]) -> OverloadFlag:
    """The flag with its answer, or the refusal naming the field at fault.

    `open_referrals` are the flagged person's open referrals: a reassignment names only those.
    The reassigned count is filled in by the use case once the referrals have moved.
    """
    if not flag.open:
        raise FlagAlreadyAnswered
    if response.action not in ACTIONS:
        raise InvalidOverloadResponse("action", f"one of {', '.join(ACTIONS)}")
    comment = response.comment.strip()
    if not comment:
        raise InvalidOverloadResponse("comment", "every response needs a comment")
    if len(comment) > COMMENT_MAX:
        raise InvalidOverloadResponse("comment", f"at most {COMMENT_MAX} characters")
    answered = replace(
        flag, action=response.action, responded_by=response.by.staff_id,
        responded_at=response.at.astimezone(UTC),
        comment=comment,
    )  # fmt: skip
    if response.action == "relieve":
        return _relieved(answered, response)
    if response.action == "reassign":
        _check_reassign(response.referral_ids, frozenset(open_referrals))
        return replace(answered, reassigned=len(set(response.referral_ids)))
    return answered


def _relieved(flag: OverloadFlag, response: OverloadResponse) -> OverloadFlag:
    factor, until = response.capacity_factor, response.until
    if factor is None or not 0 < factor <= 1:
        raise InvalidOverloadResponse("capacity_factor", "relieve needs a factor above 0 and at most 1")
    if until is None or until <= response.at:
        raise InvalidOverloadResponse("until", "relieve needs a time in the future")
    return replace(flag, capacity_factor=factor, relief_until=until.astimezone(UTC))


def _check_reassign(referral_ids: Sequence[str], open_referrals: frozenset[str]) -> None:
    if not referral_ids:
        raise InvalidOverloadResponse("referral_ids", "reassign needs at least one referral")
    if not set(referral_ids) <= open_referrals:
        raise InvalidOverloadResponse("referral_ids", "only the flagged person's open referrals")


def due_for_escalation(flag: OverloadFlag, now: datetime) -> bool:
    """An open flag past its escalation time, not yet escalated."""
    return flag.open and flag.escalated_at is None and flag.escalate_at <= now


def paused(flags: Iterable[OverloadFlag]) -> frozenset[str]:
    """Who has an open flag: no new referrals but the same child's open case."""
    return frozenset(f.staff_id for f in flags if f.open)


def capacity_factors(flags: Iterable[OverloadFlag], at: datetime) -> dict[str, float]:
    """Each relieved person's capacity factor at `at` (the smallest if reliefs overlap)."""
    factors: dict[str, float] = {}
    for f in flags:
        if f.relieved_at(at) and f.capacity_factor is not None:
            factors[f.staff_id] = min(f.capacity_factor, factors.get(f.staff_id, 1.0))
    return factors


def board_state(flags: Iterable[OverloadFlag], staff_id: str, at: datetime) -> OverloadFlag | None:
    """The flag a team board shows for the person at `at`: the open one, else a running relief."""
    mine = [f for f in flags if f.staff_id == staff_id and (f.open or f.relieved_at(at))]
    return max(mine, key=lambda f: (f.open, f.raised_at), default=None)
