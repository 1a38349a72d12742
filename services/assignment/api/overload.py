"""Staff API, overload flags (CONTRACTS.md §3a, issue 22): raise, answer, list.

The note is shown to the flagged person, their team's manager and the head of unit only
(`may_see` decides who gets a flag at all); it never leaves this API.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import Field

from services.assignment.api.bodies import Instant, _Body
from services.assignment.api.dependencies import Api, Caller
from services.assignment.domain.access import Actor
from services.assignment.domain.overload import COMMENT_MAX, NOTE_MAX, OverloadFlag, OverloadResponse
from services.assignment.handlers import overload
from shared.http import problem_responses
from shared.staff_auth import ROLES, require

router = APIRouter(prefix="/v1", tags=["overload flags"])
NO_NUL = r"^[^\x00]*$"  # Postgres text holds no NUL: refused here, not a 500 there
StaffId = Annotated[str, Path(min_length=1, max_length=64, pattern=NO_NUL)]


class FlagIn(_Body):
    """`{"note"?}`: at most 300 characters, and never about a client."""

    note: str | None = Field(default=None, max_length=NOTE_MAX, pattern=NO_NUL)


class FlagCreated(_Body):
    """The new flag's id, when it was raised and when it goes to the head of unit unanswered."""

    flag_id: str
    raised_at: datetime
    escalate_at: datetime


class ResponseIn(_Body):
    """A manager's answer; each action's own fields are checked by the domain (field paths)."""

    action: Literal["relieve", "reassign", "keep"]
    comment: str = Field(max_length=COMMENT_MAX, pattern=NO_NUL)
    capacity_factor: float | None = Field(default=None, gt=0, le=1)
    until: Instant | None = None
    referral_ids: list[Annotated[str, Field(min_length=1, max_length=128, pattern=NO_NUL)]] | None = Field(
        default=None, max_length=200
    )


class FlagOut(_Body):
    """A flag with its state and answer, as GET /v1/overload-flags lists it."""

    flag_id: str
    staff: str
    team: str
    note: str | None
    raised_at: datetime
    escalate_at: datetime
    escalated_at: datetime | None
    action: str | None
    responded_by: str | None
    responded_at: datetime | None
    response_seconds: int | None
    comment: str | None
    capacity_factor: float | None
    until: datetime | None
    reassigned: int | None

    @classmethod
    def of(cls, f: OverloadFlag) -> FlagOut:
        """The flag as the API shows it."""
        return cls(
            flag_id=f.flag_id, staff=f.staff_id, team=f.team, note=f.note, raised_at=f.raised_at,
            escalate_at=f.escalate_at, escalated_at=f.escalated_at, action=f.action,
            responded_by=f.responded_by, responded_at=f.responded_at,
            response_seconds=f.response_seconds, comment=f.comment,
            capacity_factor=f.capacity_factor, until=f.relief_until, reassigned=f.reassigned,
        )  # fmt: skip


class FlagList(_Body):
    """`{"flags": [...]}`, newest raised first."""

    flags: list[FlagOut]


@router.post(
    "/staff/{staff_id}/overload-flags",
    status_code=201,
    response_model=FlagCreated,
    responses=problem_responses(401, 403, 409, 422, 503),
)
async def raise_overload_flag(api: Api, staff_id: StaffId, body: FlagIn, caller: Caller) -> FlagCreated:
    """Raise "I am at my limit": the person themself, a caseworker in a team. Until their manager
    answers they get no new referrals except the same child's open case. 409 (with the open
    flag's id) when one is open already."""
    require(caller, ROLES)
    actor = Actor(caller.sub, caller.roles)
    flag = await overload.raise_flag(
        api.unit_of_work(), api.unit, staff_id, body.note, actor, api.clock.now()
    )
    return FlagCreated(flag_id=flag.flag_id, raised_at=flag.raised_at, escalate_at=flag.escalate_at)


@router.post(
    "/overload-flags/{flag_id}/response",
    response_model=FlagOut,
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)
async def respond_to_overload_flag(api: Api, flag_id: uuid.UUID, body: ResponseIn, caller: Caller) -> FlagOut:
    """The answer of the flagged person's team manager or the head of unit: `relieve`
    (capacity_factor in (0, 1], until in the future), `reassign` (referral_ids: their open
    referrals, moved to teammates) or `keep`; a comment always. 409 when answered already."""
    require(caller, ROLES)
    response = OverloadResponse(
        body.action, body.comment, Actor(caller.sub, caller.roles), api.clock.now(),
        body.capacity_factor, body.until, tuple(body.referral_ids or ()),
    )  # fmt: skip
    return FlagOut.of(await overload.respond(api.unit_of_work(), api.unit, str(flag_id), response))


@router.get("/overload-flags", response_model=FlagList, responses=problem_responses(401, 403, 422, 503))
async def list_overload_flags(
    api: Api,
    caller: Caller,
    team: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    open: bool | None = None,  # the contract's query parameter
    staff: Literal["me"] | None = None,
) -> FlagList:
    """Flags with their state and response times: a manager their own team's, the head of unit
    all; with `staff=me`, the caller's own history (any staff role)."""
    require(caller, ROLES)
    actor = Actor(caller.sub, caller.roles)
    flags = await overload.flags_for(api.unit_of_work(), api.unit, actor, team, open, staff == "me")
    return FlagList(flags=[FlagOut.of(f) for f in flags])
