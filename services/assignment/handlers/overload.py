"""Use cases of overload flags (issue 22): raise one, answer it, list them, escalate the
unanswered ones. Each one unit of work: the flag's row and its event commit together.

Events carry ids, times and the action, never the note (domain/overload.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from services.assignment.domain.access import Actor
from services.assignment.domain.cases import Case, CaseAction, CaseChange
from services.assignment.domain.errors import NotPermitted
from services.assignment.domain.model import Availability
from services.assignment.domain.overload import (
    RESPONDERS,
    FlagAlreadyAnswered,
    FlagAlreadyOpen,
    FlagNotFound,
    NotACaseworker,
    OverloadFlag,
    OverloadResponse,
    add_office_hours,
    answer,
    capacity_factors,
    may_raise,
    may_respond,
    may_see,
    new_flag,
    paused,
)
from services.assignment.domain.relief import relief_moves
from services.assignment.domain.unit import Unit
from services.assignment.domain.workload import absent_on, employed_on
from services.assignment.handlers.assign import PRODUCER
from services.assignment.handlers.cases import case_event
from services.assignment.handlers.scheduled import UnitsOfWork, event_id
from services.assignment.ports import AssignmentUnitOfWork
from shared.events import TOPIC_WORKPLACE, OutboxRow, new_envelope, outbox_row
from shared.events import OverloadFlag as FlagEvent


async def raise_flag(
    uow: AssignmentUnitOfWork, unit: Unit, staff_id: str, note: str | None, actor: Actor, now: datetime
) -> OverloadFlag:
    """A new open flag of the caller's own, `overload.flagged` in the same unit of work.

    Only the person themself (NotPermitted), only a caseworker of a team employed today
    (NotACaseworker), one open flag at a time (FlagAlreadyOpen with the open one's id).
    """
    may_raise(actor, staff_id)
    worker = unit.caseworker(staff_id)
    if worker is None or not employed_on(worker, unit.local_day(now)):
        raise NotACaseworker
    escalate_at = add_office_hours(now, unit.overload_escalate_hours, unit.calendar, unit.tz)
    flag = new_flag(str(uuid.uuid4()), staff_id, worker.team, note, now, escalate_at)
    async with uow:
        if not await uow.overload_flags.add(flag):
            existing = await uow.overload_flags.open_of(staff_id)
            raise FlagAlreadyOpen(existing.flag_id if existing else "")
        await uow.outbox.add([flag_event("overload.flagged", flag)])
        await uow.commit()
    return flag


async def respond(
    uow: AssignmentUnitOfWork, unit: Unit, flag_id: str, response: OverloadResponse
) -> OverloadFlag:
    """Answer an open flag (its team's manager or the head of unit), with `overload.responded`;
    a reassignment moves the named referrals in the same unit of work, each with its
    `referral.reassigned`."""
    async with uow:
        flag = await uow.overload_flags.get_for_update(flag_id)
        if flag is None:
            raise FlagNotFound
        org = unit.organisation
        if not may_respond(flag, response.by, org.managers, org.head_of_unit):
            raise NotPermitted("answering an overload flag", RESPONDERS)
        cases = await _named_open_cases(uow, flag, response)
        answered = answer(flag, response, (c.referral_id for c in cases))
        if answered.action == "reassign":
            await _move(uow, unit, answered, cases, response)
        if not await uow.overload_flags.answer(answered):
            raise FlagAlreadyAnswered
        await uow.outbox.add([flag_event("overload.responded", answered)])
        await uow.commit()
    return answered


async def _named_open_cases(
    uow: AssignmentUnitOfWork, flag: OverloadFlag, response: OverloadResponse
) -> list[Case]:
    """The named referrals that are open cases of the flagged person, each locked."""
    if response.action != "reassign":
        return []
    found = []
    for referral_id in dict.fromkeys(response.referral_ids):
        case = await uow.cases.get_for_update(referral_id)
        if case is not None and case.caseworker == flag.staff_id and case.status != "closed":
            found.append(case)
    return found


async def _move(
    uow: AssignmentUnitOfWork, unit: Unit, flag: OverloadFlag, cases: Sequence[Case], r: OverloadResponse
) -> None:
    """The named cases to teammates, under the teams' locks as every writer of loads takes them."""
    day = unit.local_day(r.at)
    await uow.assignments.lock_teams({flag.team, *(c.team for c in cases)})
    loads = await uow.assignments.team_loads(flag.team, day, unit.members(flag.team))
    absences = await uow.absences.ending_on_or_after(day)
    flags = await uow.overload_flags.in_effect(r.at)
    absent = frozenset(w for w in unit.members(flag.team) if absent_on(absences, w, day))
    availability = Availability(
        absent=absent, paused=paused(flags), capacity_factors=capacity_factors(flags, r.at)
    )
    moved = relief_moves(flag, cases, unit, loads, availability, day, r.by.staff_id)
    for before, after in zip(cases, moved, strict=True):
        await uow.cases.save(before, after)
        await uow.outbox.add([case_event_of(before, after, r)])


def case_event_of(before: Case, after: Case, r: OverloadResponse) -> OutboxRow:
    """The `referral.reassigned` of a move, as a manager's reassignment emits it."""
    action = CaseAction("reassign", r.by, r.at, caseworker=after.caseworker)
    return case_event(CaseChange(before, after, frozenset({before.team, after.team})), action)


async def flags_for(
    uow: AssignmentUnitOfWork,
    unit: Unit,
    actor: Actor,
    team: str | None,
    open_only: bool | None,
    own: bool,
) -> list[OverloadFlag]:
    """The flags the actor may see: their own (`own`), a manager's team's, all for the head of
    unit; NotPermitted for anyone else, or a manager asking for another team."""
    org = unit.organisation
    if own:
        async with uow:
            return await uow.overload_flags.listed(team, actor.staff_id, open_only)
    heads = "head_of_unit" in actor.roles and actor.staff_id == org.head_of_unit
    managed = [t for t, m in org.managers.items() if m == actor.staff_id and "manager" in actor.roles]
    if not heads and (not managed or (team is not None and team not in managed)):
        raise NotPermitted("listing overload flags", "the team's manager, the head of unit")
    async with uow:
        flags = await uow.overload_flags.listed(team, None, open_only)
    return [f for f in flags if may_see(f, actor, org.managers, org.head_of_unit)]


async def flags_in_effect(uow: AssignmentUnitOfWork, at: datetime) -> list[OverloadFlag]:
    """Open flags and running reliefs, for the workload board."""
    async with uow:
        return await uow.overload_flags.in_effect(at)


async def emit_escalations(units_of_work: UnitsOfWork, now: datetime) -> int:
    """`overload.escalated` once for each open flag past its escalation time: the mark and the
    event commit together, the event id is stable, so restarts and several instances emit one."""
    async with units_of_work() as uow:
        due = await uow.overload_flags.due_for_escalation(now)
        emitted = 0
        for flag in due:
            if await uow.overload_flags.mark_escalated(flag.flag_id, now):
                await uow.outbox.add([flag_event("overload.escalated", flag)])
                emitted += 1
        await uow.commit()
    return emitted


def flag_event(event_type: str, flag: OverloadFlag) -> OutboxRow:
    """An overload event: ids, times and the answer, never the note or the comment."""
    data = FlagEvent(
        family_key=flag.staff_id,
        flag_id=uuid.UUID(flag.flag_id),
        staff=flag.staff_id,
        team=flag.team,
        raised_at=flag.raised_at.astimezone(UTC),
        escalate_at=flag.escalate_at.astimezone(UTC),
        action=flag.action,
        responded_by=flag.responded_by,
        responded_at=flag.responded_at and flag.responded_at.astimezone(UTC),
        capacity_factor=flag.capacity_factor,
        until=flag.relief_until and flag.relief_until.astimezone(UTC),
        reassigned=flag.reassigned,
    )
    envelope = new_envelope(event_type, data, producer=PRODUCER, correlation_id=flag.flag_id)
    stable = event_id("overload", event_type, flag.flag_id)
    return outbox_row(TOPIC_WORKPLACE, envelope.model_copy(update={"event_id": stable}))
