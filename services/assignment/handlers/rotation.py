"""Use cases of the rotation and staff part of the staff API: who is on duty, the schedule and
its calendar, overrides, absences and the managers' workload view."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from services.assignment.domain.access import Actor
from services.assignment.domain.day_to_day import check_absence, check_override, may_end_absence
from services.assignment.domain.errors import NoRunningAbsence, NotPermitted, UnknownStaff
from services.assignment.domain.model import OnDuty, Override
from services.assignment.domain.overload import capacity_factors
from services.assignment.domain.rotation import on_duty, schedule, schedule_window
from services.assignment.domain.unit import Unit
from services.assignment.domain.workload import Absence, CaseworkerWorkload, workload_view
from services.assignment.ports import AssignmentUnitOfWork

CALENDAR_PAST = timedelta(days=30)
CALENDAR_AHEAD = timedelta(days=365)


async def on_duty_at(uow: AssignmentUnitOfWork, unit: Unit, at: datetime) -> OnDuty:
    """The team on duty at `at` and its period: an override if one covers it, else the rotation."""
    async with uow:
        overrides = await uow.overrides.between(at, at)
    return on_duty(unit.plan, overrides, at, unit.tz)


async def arriving_at(uow: AssignmentUnitOfWork, unit: Unit, at: datetime) -> OnDuty:
    """The period whose team takes a referral that arrives at `at`: the team on duty at the
    unit's assignment moment (`Unit.assignment_moment`, the one rule of the assignment policy)."""
    instant, _day = unit.assignment_moment(at)
    return await on_duty_at(uow, unit, instant)


async def schedule_between(uow: AssignmentUnitOfWork, unit: Unit, start: date, end: date) -> list[OnDuty]:
    """The on-duty periods from day `start` to day `end`, overrides cut in."""
    lo, hi = schedule_window(start, end, unit.tz)
    async with uow:
        overrides = await uow.overrides.between(lo, hi)
    return schedule(unit.plan, overrides, lo, hi, unit.tz)


async def calendar_periods(uow: AssignmentUnitOfWork, unit: Unit, now: datetime) -> list[OnDuty]:
    """The on-duty periods of the calendar feed: from a month ago to a year ahead."""
    today = unit.local_day(now)
    return await schedule_between(uow, unit, today - CALENDAR_PAST, today + CALENDAR_AHEAD)


async def add_override(uow: AssignmentUnitOfWork, unit: Unit, override: Override, by: str) -> int:
    """Store a manager's override of the rotation; its id."""
    checked = check_override(unit, override)
    async with uow:
        row_id = await uow.overrides.add(checked, by)
        await uow.commit()
    return row_id


async def add_absence(uow: AssignmentUnitOfWork, unit: Unit, absence: Absence, by: str) -> int:
    """Store an absence (no new referrals on those days); its id."""
    checked = check_absence(unit, absence)
    async with uow:
        row_id = await uow.absences.add(checked, by)
        await uow.commit()
    return row_id


async def end_absence(
    uow: AssignmentUnitOfWork, unit: Unit, staff_id: str, back_on: date, actor: Actor
) -> int:
    """End the person's running absence early: they take referrals again from `back_on`.
    NotPermitted unless the actor is the person, their team's manager or the head of unit."""
    if staff_id not in unit.people:
        raise UnknownStaff
    if not may_end_absence(unit, staff_id, actor.staff_id, actor.roles):
        raise NotPermitted("ending an absence", "the person, their team's manager, head_of_unit")
    async with uow:
        cut = await uow.absences.end_early(staff_id, back_on)
        if cut == 0:
            raise NoRunningAbsence
        await uow.commit()
    return cut


async def workload(
    uow: AssignmentUnitOfWork, unit: Unit, now: datetime, only: str | None = None
) -> list[CaseworkerWorkload]:
    """Per caseworker: open cases and weighted load as assignment's decisions read them, capacity
    today, and absences not yet over; with `only`, that staff member's row alone (none if they
    are no caseworker)."""
    day = unit.local_day(now)
    async with uow:
        loads = await uow.assignments.open_loads()
        absences = await uow.absences.ending_on_or_after(day)
        relief = capacity_factors(await uow.overload_flags.in_effect(now), now)
    rows = workload_view(unit.staff, day, unit.rules, loads, absences, relief)  # mentors need every row
    return [r for r in rows if only is None or r.caseworker.staff_id == only]
