"""Staff API, threats and violence (issue 22): record an incident, list them, and the quarterly
summary for occupational health. Codes and ids only: the bodies have no free-text field.

Any member of staff records (a partner does not: `ROLES`); who sees which is the domain's
decision (domain/incidents.py).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from services.assignment.api.bodies import Day, ReferralRef
from services.assignment.api.dependencies import Api, Caller
from services.assignment.domain.access import Actor
from services.assignment.domain.errors import InvalidIncident
from services.assignment.domain.incidents import Incident, Summary, parse_quarter, year_before
from services.assignment.handlers import incidents
from shared.events import IncidentChannel, IncidentType
from shared.http import problem_responses
from shared.staff_auth import ROLES, require

router = APIRouter(prefix="/v1", tags=["working environment"])
TeamId = Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9\-]{0,39}$")]
MAX_LIST_DAYS = 5 * 366


class IncidentIn(BaseModel):
    """An incident: when, what, how, and optionally which referral. No description field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    occurred_on: Day
    type: IncidentType
    channel: IncidentChannel
    referral_id: ReferralRef | None = None


class IncidentOut(BaseModel):
    """A stored incident."""

    model_config = ConfigDict(frozen=True)

    incident_id: uuid.UUID
    occurred_on: date
    type: str
    channel: str
    team: str | None
    recorded_by: str
    referral_id: str | None
    recorded_at: datetime

    @classmethod
    def of(cls, incident: Incident) -> IncidentOut:
        """The incident as the API shows it."""
        return cls(**incident.__dict__)


class IncidentsOut(BaseModel):
    """Incidents, by the day they occurred."""

    incidents: list[IncidentOut]


class SummaryOut(BaseModel):
    """A quarter's counts: no names, no staff ids, no referral ids."""

    quarter: str
    from_: date = Field(serialization_alias="from")
    to: date
    total: int
    by_type: dict[str, int]
    by_team: dict[str, dict[str, int]]
    by_channel: dict[str, int]

    @classmethod
    def of(cls, s: Summary) -> SummaryOut:
        """The summary as the API shows it."""
        q = s.quarter
        return cls(
            quarter=str(q), from_=q.first_day, to=q.last_day, total=s.total,
            by_type=s.by_type, by_team=s.by_team, by_channel=s.by_channel,
        )  # fmt: skip


@router.post(
    "/incidents", status_code=201, response_model=IncidentOut, responses=problem_responses(401, 403, 422, 503)
)
async def record_incident(api: Api, caller: Caller, body: IncidentIn) -> IncidentOut:
    """Record a threat, violence or harassment against staff (any member of staff). The team is
    the recorder's own; the manager and occupational health are told (`incident.recorded`)."""
    require(caller, ROLES)
    report = (body.occurred_on, body.type, body.channel, body.referral_id)
    return IncidentOut.of(
        await incidents.record_incident(api.unit_of_work(), api.unit, caller.sub, report, api.clock.now())
    )


@router.get("/incidents", response_model=IncidentsOut, responses=problem_responses(401, 403, 422, 503))
async def list_incidents(
    api: Api,
    caller: Caller,
    from_: Annotated[Day | None, Query(alias="from")] = None,
    to: Day | None = None,
    team: TeamId = None,
) -> IncidentsOut:
    """Incidents that occurred from `from` to `to` (default: the year up to today): the head of
    unit sees every team's, a manager their team's, anyone the ones they recorded."""
    require(caller, ROLES)
    last = to or api.unit.local_day(api.clock.now())
    first = from_ or year_before(last)
    if first > last or (last - first).days > MAX_LIST_DAYS:
        raise InvalidIncident(f"`from` must not lie after `to`, nor more than {MAX_LIST_DAYS} days before it")
    actor = Actor(caller.sub, caller.roles)
    found = await incidents.visible_incidents(api.unit_of_work(), api.unit, actor, first, last, team)
    return IncidentsOut(incidents=[IncidentOut.of(i) for i in found])


@router.get(
    "/incidents/summary",
    response_model=SummaryOut,
    response_model_by_alias=True,
    responses=problem_responses(401, 403, 422, 503),
)
async def incident_summary(
    api: Api,
    caller: Caller,
    quarter: Annotated[str, Query(max_length=20)],
    team: TeamId = None,
) -> SummaryOut:
    """A quarter's incidents counted by type, by team and type, and by channel, for occupational
    health: the head of unit every team's, a manager their own team's. No names or ids."""
    require(caller, ROLES)
    actor = Actor(caller.sub, caller.roles)
    chosen = parse_quarter(quarter)
    summary = await incidents.quarter_summary(api.unit_of_work(), api.unit, actor, chosen, team)
    return SummaryOut.of(summary)
