"""Use cases of fixed meeting times and consultations (issue 22): the expanded meeting slots with
their bookings, booking the next free consultation of the right team, cancelling, one's own
list, and the reminder scan. Every change goes out on `workplace.v1` through the outbox; the
topic never does (domain/consultations.py, domain/meetings.py decide)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from services.assignment.domain.access import Actor
from services.assignment.domain.consultations import (
    MAX_ATTEMPTS,
    Consultation,
    cancel,
    checked_topic,
    may_cancel,
)
from services.assignment.domain.errors import CaseNotFound, NotPermitted, UnknownTeam
from services.assignment.domain.meetings import (
    ConsultationNotFound,
    NoFreeBooking,
    Occurrence,
    free_bookings,
    occurrences,
)
from services.assignment.domain.rotation import handovers, schedule_window
from services.assignment.domain.unit import Unit
from services.assignment.handlers.assign import PRODUCER
from services.assignment.handlers.rotation import CALENDAR_AHEAD, CALENDAR_PAST, arriving_at
from services.assignment.ports import AssignmentUnitOfWork
from shared.events import TOPIC_WORKPLACE, ConsultationEvent, OutboxRow, new_envelope, outbox_row

UnitsOfWork = Callable[[], AssignmentUnitOfWork]
NAMESPACE = uuid.UUID("0c6f3a8e-2b1d-4c55-9e1a-7d3b5f6a9c21")
CHANGE_MARGIN = timedelta(days=1)  # a handover at the window's edge still yields its meeting


@dataclass(frozen=True)
class SlotsView:
    """The meeting occurrences in a window and the live consultations booked in it."""

    occurrences: list[Occurrence]
    booked: list[Consultation]


async def meeting_slots(
    uow: AssignmentUnitOfWork, unit: Unit, start: date, end: date, team: str | None
) -> SlotsView:
    """The slots' meetings from day `start` to day `end` (of `team` alone, if given), with the
    consultations not cancelled in that window."""
    if team is not None and unit.team(team) is None:
        raise UnknownTeam(team)
    lo, hi = schedule_window(start, end, unit.tz)
    found, live = await _occurrences(uow, unit, lo, hi)
    if team is not None:
        found = [o for o in found if team in o.teams]
        live = [c for c in live if c.team == team]
    return SlotsView(found, live)


async def _occurrences(
    uow: AssignmentUnitOfWork, unit: Unit, lo: datetime, hi: datetime
) -> tuple[list[Occurrence], list[Consultation]]:
    async with uow:
        overrides = await uow.overrides.between(lo - CHANGE_MARGIN, hi + CHANGE_MARGIN)
        live = [c for c in await uow.consultations.between(lo, hi) if c.cancelled_at is None]
    changes = handovers(unit.plan, overrides, lo - CHANGE_MARGIN, hi, unit.tz)
    teams = [t.id for t in unit.teams]
    return occurrences(unit.meetings, teams, changes, lo, hi, unit.calendar, unit.tz), live


async def calendar_meetings(
    uow: AssignmentUnitOfWork, unit: Unit, now: datetime, team: str | None
) -> list[Occurrence]:
    """The meetings of the calendar feed, over its window (a month back, a year ahead):
    `team`'s, or every team's for None."""
    today = unit.local_day(now)
    lo, hi = schedule_window(today - CALENDAR_PAST, today + CALENDAR_AHEAD, unit.tz)
    found, _ = await _occurrences(uow, unit, lo, hi)
    return [o for o in found if team is None or team in o.teams]


def home_team(unit: Unit, staff_id: str) -> str | None:
    """The team a person works in or manages; None for anyone else (head of unit, intake)."""
    worker = unit.caseworker(staff_id)
    if worker is not None:
        return worker.team
    return next((t.id for t in unit.teams if t.manager == staff_id), None)


async def consultation_team(
    uow: AssignmentUnitOfWork, unit: Unit, referral_id: str | None, now: datetime
) -> str:
    """The team a consultation goes to: the referral's (CaseNotFound if it has none), else the
    team that would take a referral arriving now (the assignment policy's rule)."""
    if referral_id is None:
        return (await arriving_at(uow, unit, now)).team
    async with uow:
        case = await uow.cases.get(referral_id)
    if case is None:
        raise CaseNotFound
    return case.team


async def book(
    units_of_work: UnitsOfWork,
    unit: Unit,
    requester: str,
    topic: str,
    referral_id: str | None,
    now: datetime,
) -> Consultation:
    """Book the right team's next free consultation. A booking another request took meanwhile
    is skipped for the next free one, at most MAX_ATTEMPTS; NoFreeBooking when none is left."""
    clean = checked_topic(topic)
    team = await consultation_team(units_of_work(), unit, referral_id, now)
    rules = unit.meetings
    async with units_of_work() as uow:
        taken = await uow.consultations.live_starts(team, now, now + timedelta(days=rules.horizon_days + 1))
        for booking in free_bookings(rules, team, now, taken, unit.calendar, unit.tz)[:MAX_ATTEMPTS]:
            consultation = Consultation(
                str(uuid.uuid4()), booking.slot, team, booking.starts_at, booking.ends_at,
                requester, clean, referral_id, now,
            )  # fmt: skip
            if await uow.consultations.add(consultation):
                await uow.outbox.add([consultation_event("consultation.booked", consultation)])
                await uow.commit()
                return consultation
    raise NoFreeBooking(rules.horizon_days)


async def cancel_consultation(
    uow: AssignmentUnitOfWork, unit: Unit, consultation_id: str, actor: Actor, now: datetime
) -> Consultation:
    """Cancel it (the booker, the team's manager, the head of unit): ConsultationNotFound,
    NotPermitted, AlreadyCancelled."""
    async with uow:
        stored = await uow.consultations.get_for_update(consultation_id)
        if stored is None:
            raise ConsultationNotFound
        if not may_cancel(stored, actor, unit.organisation):
            raise NotPermitted("cancelling a consultation", "who booked it, the team's manager, head_of_unit")
        cancelled = cancel(stored, actor.staff_id, now)
        await uow.consultations.save_cancellation(cancelled)
        await uow.outbox.add([consultation_event("consultation.cancelled", cancelled)])
        await uow.commit()
    return cancelled


async def own_consultations(uow: AssignmentUnitOfWork, requester: str) -> list[Consultation]:
    """What `requester` booked, cancelled ones too, by start."""
    async with uow:
        return await uow.consultations.of_requester(requester)


async def consultations_in(
    uow: AssignmentUnitOfWork, unit: Unit, start: date, end: date
) -> list[Consultation]:
    """Every consultation starting from day `start` to day `end`, cancelled ones too."""
    lo, hi = schedule_window(start, end, unit.tz)
    async with uow:
        return await uow.consultations.between(lo, hi)


async def emit_consultation_reminders(uow: AssignmentUnitOfWork, unit: Unit, now: datetime) -> int:
    """One `consultation.reminder` per live consultation starting within the configured
    reminder lead, however many scans and instances run; how many were emitted."""
    emitted = 0
    async with uow:
        for due in await uow.consultations.reminders_due(now, now + unit.meetings.reminder):
            if await uow.consultations.mark_reminded(due.consultation_id, now):
                await uow.outbox.add([consultation_event("consultation.reminder", due)])
                emitted += 1
        await uow.commit()
    return emitted


def consultation_event(event_type: str, consultation: Consultation) -> OutboxRow:
    """The event of a consultation's change, with a stable id (never its topic)."""
    c = consultation
    data = ConsultationEvent(
        family_key=c.consultation_id,
        consultation_id=uuid.UUID(c.consultation_id),
        slot=c.slot_id,
        team=c.team,
        requester=c.requester,
        starts_at=c.starts_at.astimezone(UTC),
        ends_at=c.ends_at.astimezone(UTC),
        referral_id=c.referral_id,
        sequence=c.sequence,
        cancelled_by=c.cancelled_by,
    )
    envelope = new_envelope(event_type, data, producer=PRODUCER, correlation_id=c.consultation_id)
    stable = uuid.uuid5(NAMESPACE, f"{c.consultation_id}/{event_type}/{c.sequence}")
    return outbox_row(TOPIC_WORKPLACE, envelope.model_copy(update={"event_id": stable}))
