"""Use cases of threats and violence (issue 22): record an incident with its event, list the ones
a caller may see, and the quarterly summary (domain/incidents.py decides)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from services.assignment.domain.access import Actor
from services.assignment.domain.errors import UnknownReferral
from services.assignment.domain.incidents import (
    Incident,
    Quarter,
    Summary,
    list_scope,
    new_incident,
    summarize,
    summary_teams,
)
from services.assignment.domain.unit import Unit
from services.assignment.handlers.assign import PRODUCER
from services.assignment.ports import AssignmentUnitOfWork
from shared.events import TOPIC_WORKPLACE, IncidentRecorded, OutboxRow, new_envelope, outbox_row


async def record_incident(
    uow: AssignmentUnitOfWork,
    unit: Unit,
    recorder: str,
    report: tuple[date, str, str, str | None],
    now: datetime,
) -> Incident:
    """Store the incident (`report`: the day, type, channel and referral) and its
    `incident.recorded` event in one unit of work; UnknownReferral for a referral never assigned."""
    occurred_on, kind, channel, referral_id = report
    today = unit.local_day(now)
    incident = new_incident(
        uuid.uuid4(), occurred_on, kind, channel, referral_id, recorder, unit.organisation, now, today
    )
    async with uow:
        if referral_id is not None and await uow.cases.get(referral_id) is None:
            raise UnknownReferral("referral_id")
        await uow.incidents.add(incident)
        await uow.outbox.add([incident_event(incident)])
        await uow.commit()
    return incident


def incident_event(incident: Incident) -> OutboxRow:
    """`incident.recorded` on workplace.v1: codes and ids, no names, no text."""
    data = IncidentRecorded(
        family_key=str(incident.incident_id),
        incident_id=incident.incident_id,
        occurred_on=incident.occurred_on,
        type=incident.type,
        channel=incident.channel,
        team=incident.team,
        requester=incident.recorded_by,
        referral_id=incident.referral_id,
    )
    envelope = new_envelope(
        "incident.recorded", data, producer=PRODUCER, correlation_id=str(incident.incident_id)
    )
    return outbox_row(TOPIC_WORKPLACE, envelope)


async def visible_incidents(
    uow: AssignmentUnitOfWork, unit: Unit, actor: Actor, first: date, last: date, team: str | None
) -> list[Incident]:
    """The incidents from `first` to `last` the actor may see (NotPermitted for a team they may
    not list)."""
    scope = list_scope(actor, unit.organisation, team)
    async with uow:
        found = await uow.incidents.between(first, last)
    return [i for i in found if scope.shows(i) and (team is None or i.team == team)]


async def quarter_summary(
    uow: AssignmentUnitOfWork, unit: Unit | None, actor: Actor | None, quarter: Quarter, team: str | None
) -> Summary:
    """The quarter's counts for the actor (the head of unit: every team; a manager: their own),
    or, without an actor (the command line, which holds the database's credentials), every
    team's or `team`'s."""
    if actor is not None and unit is not None:
        teams = summary_teams(actor, unit.organisation, team)
    else:
        teams = None if team is None else frozenset({team})
    async with uow:
        found = await uow.incidents.between(quarter.first_day, quarter.last_day)
    return summarize(found, quarter, teams)
