"""Staff API, calendar subscription links: a token-less URL of the rotation calendar for
Outlook's "subscribe from web", which cannot send a bearer header (domain/calendar_feeds.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict

from services.assignment.api.dependencies import Api, Caller
from services.assignment.api.ical import calendar_ics
from services.assignment.domain.access import Actor
from services.assignment.domain.calendar_feeds import CalendarFeed, active
from services.assignment.handlers import calendar_feeds as feeds
from services.assignment.handlers import consultations, rotation
from shared.http import ApiProblem, problem_responses
from shared.staff_auth import ROLES, require

router = APIRouter(prefix="/v1", tags=["rotation and staff"])
FEED_PATH = "/v1/rotation/calendar/{token}.ics"
NO_STORE = {"Cache-Control": "no-store"}
FeedId = Annotated[int, Path(ge=1, le=2**63 - 1)]  # a bigint: larger ids are 422, not a driver error


class FeedOut(BaseModel):
    """A calendar feed as its owner sees it: never its token."""

    model_config = ConfigDict(frozen=True)

    id: int
    staff_id: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    active: bool

    @classmethod
    def of(cls, feed: CalendarFeed, now: datetime) -> FeedOut:
        return cls(**feed.__dict__, active=active(feed, now))


class FeedCreated(FeedOut):
    """A new feed with its subscription URL, shown this once (only the token's hash is kept)."""

    url: str


def feed_url(public_url: str, token: str) -> str:
    """The subscription URL of a token, under assignment's public base URL."""
    return public_url.rstrip("/") + FEED_PATH.format(token=token)


@router.post(
    "/rotation/calendar-feeds",
    status_code=201,
    response_model=FeedCreated,
    responses=problem_responses(401, 403, 503),
)
async def create_calendar_feed(api: Api, caller: Caller, response: Response) -> FeedCreated:
    """A new subscription link for the caller (any staff role). The `url` holds the secret and
    is returned this once; whoever has it reads the rotation calendar until it is revoked or
    expires (a year)."""
    require(caller, ROLES)
    now = api.clock.now()
    feed, token = await feeds.create_feed(api.unit_of_work(), caller.sub, now)
    response.headers.update(NO_STORE)
    return FeedCreated(**FeedOut.of(feed, now).model_dump(), url=feed_url(api.public_url, token))


@router.get(
    "/rotation/calendar-feeds", response_model=list[FeedOut], responses=problem_responses(401, 403, 503)
)
async def list_calendar_feeds(api: Api, caller: Caller) -> list[FeedOut]:
    """The caller's own feeds, revoked and expired ones too, oldest first; never a token."""
    require(caller, ROLES)
    now = api.clock.now()
    return [FeedOut.of(f, now) for f in await feeds.own_feeds(api.unit_of_work(), caller.sub)]


@router.delete(
    "/rotation/calendar-feeds/{feed_id}",
    response_model=FeedOut,
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def revoke_calendar_feed(api: Api, caller: Caller, feed_id: FeedId) -> FeedOut:
    """Revoke a feed: its owner, a manager or the head of unit. Its URL answers 404 from now on;
    revoking again changes nothing."""
    require(caller, ROLES)
    now = api.clock.now()
    revoked = await feeds.revoke_feed(api.unit_of_work(), feed_id, Actor(caller.sub, caller.roles), now)
    return FeedOut.of(revoked, now)


@router.get(
    "/rotation/calendar/{token}.ics",
    response_class=Response,
    responses={
        200: {
            "description": "The rotation calendar of `calendar.ics`, for whoever holds a live feed token.",
            "content": {"text/calendar": {"schema": {"type": "string"}}},
        },
        **problem_responses(404, 503),
    },
)
async def calendar_by_feed(api: Api, token: str) -> Response:
    """The rotation calendar without a bearer header: 404 for a token that is unknown, revoked,
    expired, or whose owner is no longer in the unit file. Team names and times only, with the
    fixed meetings of the owner's team (every team's for someone in none)."""
    now = api.clock.now()
    feed = await feeds.open_feed(api.unit_of_work(), api.unit, token, now)
    if feed is None:
        raise ApiProblem(404, "Not found", "no such calendar feed")
    periods = await rotation.calendar_periods(api.unit_of_work(), api.unit, now)
    team = consultations.home_team(api.unit, feed.staff_id)
    meetings = await consultations.calendar_meetings(api.unit_of_work(), api.unit, now, team)
    ics = calendar_ics(periods, {t.id: t.name for t in api.unit.teams}, now, meetings)
    headers = {"Cache-Control": "private", "Referrer-Policy": "no-referrer"}
    return Response(ics, media_type="text/calendar; charset=utf-8", headers=headers)
