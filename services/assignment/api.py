"""Staff API, rotation and staff part: on duty, schedule, iCalendar, overrides, absences, workload."""

from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from services.assignment import postgres
from services.assignment.api_types import Day, Instant
from services.assignment.domain.ical import calendar_ics
from services.assignment.domain.model import OnDuty
from services.assignment.domain.rotation import on_duty, schedule
from services.assignment.handlers import AssignmentContext
from services.assignment.workload_view import workload
from shared.clock import Clock
from shared.http import ApiProblem
from shared.staff_auth import ROLES, Principal, require

MANAGERS = frozenset({"manager", "head_of_unit"})
MAX_SCHEDULE_DAYS = 400


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Period(_Body):
    """One on-duty period."""

    team: str
    period_start: datetime
    period_end: datetime
    source: Literal["rotation", "override"]


class OverrideIn(_Body):
    """A manager's override of the rotation."""

    team: str = Field(min_length=1, max_length=40)
    starts_at: Instant
    ends_at: Instant
    reason: str = Field(min_length=1, max_length=500)


class AbsenceIn(_Body):
    """An absence: no new referrals on these days."""

    starts_on: Day
    ends_on: Day
    kind: Literal["leave", "sick", "course", "other"]


class Created(_Body):
    """The id of what was stored."""

    id: int


def _period(p: OnDuty) -> Period:
    return Period(team=p.team, period_start=p.period_start, period_end=p.period_end, source=p.source)


def rotation_router(
    ctx: AssignmentContext,
    pool: Callable[[], asyncpg.Pool],
    auth: Callable[..., Awaitable[Principal]],
    clock: Clock,
) -> APIRouter:
    """Routes under /v1/rotation, /v1/staff and /v1/workload."""
    router = APIRouter(prefix="/v1", tags=["rotation and staff"])
    Caller = Annotated[Principal, Depends(auth)]

    @router.get("/rotation/on-duty", response_model=Period)
    async def on_duty_at(caller: Caller, at: Instant | None = None) -> Period:
        require(caller, ROLES)
        moment = at or clock.now()
        async with pool().acquire() as conn:
            overrides = await postgres.overrides_between(conn, moment, moment)
        return _period(on_duty(ctx.plan, overrides, moment, ctx.tz))

    @router.get("/rotation/schedule", response_model=list[Period])
    async def rotation_schedule(
        caller: Caller, start: Annotated[Day, Query(alias="from")], end: Annotated[Day, Query(alias="to")]
    ) -> list[Period]:
        require(caller, ROLES)
        return [_period(p) for p in await _periods(start, end)]

    @router.get("/rotation/calendar.ics", response_class=Response)
    async def rotation_calendar(caller: Caller) -> Response:
        require(caller, ROLES)
        today = clock.now().astimezone(ctx.tz).date()
        periods = await _periods(today - timedelta(days=30), today + timedelta(days=365))
        names = {t.id: t.name for t in ctx.config.teams}
        return Response(calendar_ics(periods, names, clock.now()), media_type="text/calendar; charset=utf-8")

    async def _periods(start: date, end: date) -> list[OnDuty]:
        if not start <= end <= start + timedelta(days=MAX_SCHEDULE_DAYS):
            raise ApiProblem(422, "Invalid range", f"need from <= to, at most {MAX_SCHEDULE_DAYS} days")
        lo = datetime.combine(start, time(0), ctx.tz)
        hi = datetime.combine(end + timedelta(days=1), time(0), ctx.tz)
        async with pool().acquire() as conn:
            overrides = await postgres.overrides_between(conn, lo, hi)
        return schedule(ctx.plan, overrides, lo, hi, ctx.tz)

    @router.post("/rotation/overrides", status_code=201, response_model=Created)
    async def add_override(body: OverrideIn, caller: Caller) -> Created:
        require(caller, MANAGERS)
        if ctx.config.team(body.team) is None:
            raise ApiProblem(422, "Unknown team", f"no team {body.team!r} in the unit config")
        if body.ends_at <= body.starts_at:
            raise ApiProblem(422, "Invalid window", "ends_at must be after starts_at")
        row_id = await pool().fetchval(
            "INSERT INTO rotation_overrides (team, starts_at, ends_at, reason, created_by)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            body.team,
            body.starts_at,
            body.ends_at,
            body.reason,
            caller.sub,
        )
        return Created(id=row_id)

    @router.post("/staff/{staff_id}/absences", status_code=201, response_model=Created)
    async def add_absence(staff_id: str, body: AbsenceIn, caller: Caller) -> Created:
        require(caller, MANAGERS, or_self=staff_id)
        if ctx.config.person(staff_id) is None:
            raise ApiProblem(404, "Not found", "no such staff id")
        if body.ends_on < body.starts_on or body.ends_on > body.starts_on + timedelta(days=3660):
            raise ApiProblem(422, "Invalid dates", "ends_on must be on or after starts_on, within ten years")
        row_id = await pool().fetchval(
            "INSERT INTO absences (staff_id, starts_on, ends_on, kind, created_by)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            staff_id,
            body.starts_on,
            body.ends_on,
            body.kind,
            caller.sub,
        )
        return Created(id=row_id)

    @router.get("/workload")
    async def get_workload(caller: Caller) -> dict[str, object]:
        require(caller, MANAGERS)
        async with pool().acquire() as conn:
            return await workload(conn, ctx, clock.now())

    return router
