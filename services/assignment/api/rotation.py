"""Staff API, rotation and staff part: on duty, schedule, iCalendar, overrides, absences, workload."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from services.assignment.api.bodies import (
    AbsenceEndIn,
    AbsenceIn,
    Created,
    Day,
    Instant,
    OverrideIn,
    Period,
    workload_body,
)
from services.assignment.api.dependencies import Api, Caller
from services.assignment.api.ical import calendar_ics
from services.assignment.domain.access import Actor
from services.assignment.domain.model import Override
from services.assignment.domain.workload import Absence
from services.assignment.handlers import consultations, overload, rotation
from shared.http import problem_responses
from shared.staff_auth import ROLES, require

MANAGERS = frozenset({"manager", "head_of_unit"})
router = APIRouter(prefix="/v1", tags=["rotation and staff"])
READ_PROBLEMS = problem_responses(401, 403, 422, 503)


@router.get("/rotation/on-duty", response_model=Period, responses=READ_PROBLEMS)
async def on_duty_at(api: Api, caller: Caller, at: Instant | None = None) -> Period:
    require(caller, ROLES)
    return Period.of(await rotation.on_duty_at(api.unit_of_work(), api.unit, at or api.clock.now()))


@router.get("/rotation/arriving", response_model=Period, responses=READ_PROBLEMS)
async def arriving(api: Api, caller: Caller, at: Instant | None = None) -> Period:
    """The period whose team takes a referral arriving at `at` (default now), under the policy."""
    require(caller, ROLES)
    return Period.of(await rotation.arriving_at(api.unit_of_work(), api.unit, at or api.clock.now()))


@router.get(
    "/rotation/schedule", response_model=list[Period], responses=problem_responses(401, 403, 422, 503)
)
async def rotation_schedule(
    api: Api,
    caller: Caller,
    start: Annotated[Day, Query(alias="from")],
    end: Annotated[Day, Query(alias="to")],
) -> list[Period]:
    require(caller, ROLES)
    return [Period.of(p) for p in await rotation.schedule_between(api.unit_of_work(), api.unit, start, end)]


@router.get(
    "/rotation/calendar.ics",
    response_class=Response,
    responses={
        200: {
            "description": "RFC 5545 iCalendar of the on-duty periods (UTF-8, lines folded at 75 octets).",
            "content": {"text/calendar": {"schema": {"type": "string"}}},
        },
        **problem_responses(401, 403, 503),
    },
)
async def rotation_calendar(api: Api, caller: Caller) -> Response:
    require(caller, ROLES)
    now = api.clock.now()
    periods = await rotation.calendar_periods(api.unit_of_work(), api.unit, now)
    meetings = await consultations.calendar_meetings(api.unit_of_work(), api.unit, now, None)
    ics = calendar_ics(periods, {t.id: t.name for t in api.unit.teams}, now, meetings)
    return Response(ics, media_type="text/calendar; charset=utf-8")


@router.post(
    "/rotation/overrides",
    status_code=201,
    response_model=Created,
    responses=problem_responses(401, 403, 422, 503),
)
async def add_override(api: Api, body: OverrideIn, caller: Caller) -> Created:
    require(caller, MANAGERS)
    override = Override(body.team, body.starts_at, body.ends_at, body.reason)
    return Created(id=await rotation.add_override(api.unit_of_work(), api.unit, override, caller.sub))


@router.post(
    "/staff/{staff_id}/absences",
    status_code=201,
    response_model=Created,
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def add_absence(api: Api, staff_id: str, body: AbsenceIn, caller: Caller) -> Created:
    require(caller, ROLES)  # staff only: a partner (issue 22) is in the unit file but not staff
    require(caller, MANAGERS, or_self=staff_id)
    absence = Absence(staff_id, body.starts_on, body.ends_on, body.kind)
    return Created(id=await rotation.add_absence(api.unit_of_work(), api.unit, absence, caller.sub))


@router.post(
    "/staff/{staff_id}/absences/end",
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)
async def end_absence(api: Api, staff_id: str, body: AbsenceEndIn, caller: Caller) -> dict[str, object]:
    """End the person's running absence early (it now ends the day before `back_on`). For the
    person themself, the manager of their team and the head of unit; 409 when none runs then."""
    require(caller, ROLES)  # staff only: a partner (issue 22) is in the unit file but not staff
    actor = Actor(caller.sub, caller.roles)
    cut = await rotation.end_absence(api.unit_of_work(), api.unit, staff_id, body.back_on, actor)
    return {"staff_id": staff_id, "back_on": body.back_on, "absences_ended": cut}


@router.get("/workload", responses=problem_responses(401, 403, 422, 503))
async def get_workload(api: Api, caller: Caller, staff: Literal["me"] | None = None) -> dict[str, object]:
    """Every caseworker's load (managers, head of unit); with `staff=me`, the caller's own row
    (any staff role: a person may always see their own load against capacity)."""
    require(caller, ROLES if staff == "me" else MANAGERS)
    only = caller.sub if staff == "me" else None
    now = api.clock.now()
    rows = await rotation.workload(api.unit_of_work(), api.unit, now, only)
    return workload_body(rows, now, await overload.flags_in_effect(api.unit_of_work(), now))
