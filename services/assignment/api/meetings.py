"""Staff API, fixed meeting times and consultations (issue 22, CONTRACTS.md §3a).

Partners (colleagues elsewhere in social services, role `partner`) may use these endpoints and
no other. A partner sees which consultation times are free or booked, never who booked the
others nor what about; staff of the unit see who booked; the topic is shown only to the booker,
the team's members and its manager (domain/consultations.py).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from services.assignment.api.bodies import Day, ReferralRef
from services.assignment.api.dependencies import Api, Caller
from services.assignment.domain.access import Actor, Organisation
from services.assignment.domain.consultations import TOPIC_MAX, Consultation, may_read_topic
from services.assignment.domain.meetings import Occurrence, bookings
from services.assignment.handlers import consultations as use
from shared.http import problem_responses
from shared.staff_auth import PARTNER, ROLES, Principal, require

router = APIRouter(prefix="/v1", tags=["meeting times and consultations"])
BOOKERS = ROLES | {PARTNER}
ConsultationId = Annotated[uuid.UUID, Path()]


class ConsultationIn(BaseModel):
    """A consultation request: what it is about (plain text, no client data) and, for an
    existing matter, the referral it concerns."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str = Field(min_length=1, max_length=TOPIC_MAX)
    referral_id: ReferralRef | None = None


def _actor(caller: Principal) -> Actor:
    return Actor(caller.sub, caller.roles)


def consultation_body(c: Consultation, actor: Actor, org: Organisation) -> dict[str, Any]:
    """A consultation as JSON; its topic only for who may read it (else null)."""
    return {
        "consultation_id": c.consultation_id,
        "slot": c.slot_id,
        "team": c.team,
        "starts_at": c.starts_at,
        "ends_at": c.ends_at,
        "topic": c.topic if may_read_topic(c, actor, org) else None,
        "referral_id": c.referral_id,
        "requester": c.requester,
        "cancelled_at": c.cancelled_at,
    }


def _bookings(
    o: Occurrence, team: str, booked: dict[tuple[str, datetime], Consultation], caller: Principal
) -> list[dict[str, Any]]:
    staff = caller.has_any(ROLES)
    rows = []
    for b in bookings(o):
        taken = booked.get((team, b.starts_at))
        row: dict[str, Any] = {"starts_at": b.starts_at, "ends_at": b.ends_at, "booked": taken is not None}
        if taken is not None and (staff or taken.requester == caller.sub):
            row |= {"consultation_id": taken.consultation_id, "requester": taken.requester}
        rows.append(row)
    return rows


def slot_rows(view: use.SlotsView, team: str | None, caller: Principal) -> list[dict[str, Any]]:
    """Each occurrence as JSON; a consultation occurrence once per team, with that team's bookings."""
    booked = {(c.team, c.starts_at): c for c in view.booked}
    rows = []
    for o in view.occurrences:
        base: dict[str, Any] = {
            "slot": o.slot.id,
            "kind": o.slot.kind,
            "title": o.slot.title,
            "counterpart": o.slot.counterpart,
            "starts_at": o.starts_at,
            "ends_at": o.ends_at,
        }
        if o.slot.kind != "consultation":
            rows.append(base | {"teams": list(o.teams), "bookings": []})
            continue
        for t in o.teams if team is None else [team]:
            rows.append(base | {"teams": [t], "bookings": _bookings(o, t, booked, caller)})
    return rows


@router.get("/meeting-slots", responses=problem_responses(401, 403, 422, 503))
async def meeting_slots(
    api: Api,
    caller: Caller,
    start: Annotated[Day | None, Query(alias="from")] = None,
    end: Annotated[Day | None, Query(alias="to")] = None,
    team: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """The unit file's fixed meeting times from day `from` (default today) to day `to` (default
    four weeks on), with each consultation time free or booked (any staff role, partners)."""
    require(caller, BOOKERS)
    today = api.unit.local_day(api.clock.now())
    first: date = start or today
    last: date = end or date.fromordinal(first.toordinal() + api.unit.meetings.horizon_days)
    view = await use.meeting_slots(api.unit_of_work(), api.unit, first, last, team)
    return {"slots": slot_rows(view, team, caller)}


@router.post("/consultations", status_code=201, responses=problem_responses(401, 403, 404, 409, 422, 503))
async def book_consultation(api: Api, caller: Caller, body: ConsultationIn) -> dict[str, Any]:
    """Book the next free consultation of the team on duty (a new matter) or of the referral's
    team; 409 when the team has no free time within the booking horizon."""
    require(caller, BOOKERS)
    c = await use.book(api.unit_of_work, api.unit, caller.sub, body.topic, body.referral_id, api.clock.now())
    return {"consultation_id": c.consultation_id, "slot": c.slot_id, "team": c.team,
            "starts_at": c.starts_at, "ends_at": c.ends_at}  # fmt: skip


@router.get("/consultations", responses=problem_responses(401, 403, 422, 503))
async def list_consultations(
    api: Api,
    caller: Caller,
    mine: bool = False,
    start: Annotated[Day | None, Query(alias="from")] = None,
    end: Annotated[Day | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    """`mine=true`: what the caller booked (anyone who may book). Otherwise every consultation
    from day `from` to day `to` (unit staff only), topics only where the caller may read them."""
    actor, org = _actor(caller), api.unit.organisation
    if mine:
        require(caller, BOOKERS)
        found = await use.own_consultations(api.unit_of_work(), caller.sub)
    else:
        require(caller, ROLES)
        today = api.unit.local_day(api.clock.now())
        found = await use.consultations_in(
            api.unit_of_work(), api.unit, start or today, end or start or today
        )
    return {"consultations": [consultation_body(c, actor, org) for c in found]}


@router.delete("/consultations/{consultation_id}", responses=problem_responses(401, 403, 404, 409, 422, 503))
async def cancel_consultation(api: Api, caller: Caller, consultation_id: ConsultationId) -> dict[str, Any]:
    """Cancel a consultation: who booked it, the team's manager, the head of unit; 409 when it is
    cancelled already."""
    require(caller, BOOKERS)
    actor = _actor(caller)
    c = await use.cancel_consultation(
        api.unit_of_work(), api.unit, str(consultation_id), actor, api.clock.now()
    )
    return consultation_body(c, actor, api.unit.organisation)
