"""Calendar subscription links: the domain's rules, and the staff API's edge on the fakes
(create once, list without secrets, revoke, the token-less feed and its 404s)."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.assignment import api
from services.assignment.domain.access import Actor
from services.assignment.domain.calendar_feeds import CalendarFeed, expiry, may_revoke, usable, well_formed
from shared.http import add_problem_handlers
from tests.assignment_support import Fakes, local, received
from tests.unit.test_assignment_api import authenticate

NOW = local(2026, 10, 5, 10, 0)
FEED = CalendarFeed(1, "cw-a1", NOW, expiry(NOW))
PEOPLE = frozenset({"cw-a1", "mgr-a"})
PUBLIC = "https://assignment.example.se/base/"


def test_a_feed_answers_until_revoked_expired_or_its_owner_leaves() -> None:
    assert usable(FEED, PEOPLE, NOW)
    assert usable(FEED, PEOPLE, FEED.expires_at - timedelta(seconds=1))
    assert not usable(FEED, PEOPLE, FEED.expires_at)
    assert not usable(dataclasses.replace(FEED, revoked_at=NOW), PEOPLE, NOW)
    assert not usable(FEED, frozenset({"mgr-a"}), NOW)
    assert FEED.expires_at - FEED.created_at == timedelta(days=365)


def test_its_owner_a_manager_and_the_head_may_revoke_a_feed() -> None:
    assert may_revoke(FEED, Actor("cw-a1", frozenset({"caseworker"})))
    assert may_revoke(FEED, Actor("mgr-b", frozenset({"manager"})))
    assert may_revoke(FEED, Actor("head", frozenset({"head_of_unit"})))
    assert not may_revoke(FEED, Actor("cw-a2", frozenset({"caseworker"})))
    assert not may_revoke(FEED, Actor("intake-1", frozenset({"intake"})))


def test_only_the_shape_of_a_handed_out_token_is_looked_up() -> None:
    assert well_formed("A" * 42 + "_") and not well_formed("A" * 42) and not well_formed("A" * 42 + "/")


@pytest.fixture
async def client() -> Any:
    fakes = Fakes(NOW)
    app = FastAPI()
    add_problem_handlers(app)
    for router in api.ROUTERS:
        app.include_router(router)
    app.state.assignment = api.AssignmentApi(
        fakes.unit, fakes.uow, fakes.clock, authenticate, public_url=PUBLIC
    )
    api.add_domain_problem_handlers(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as c:
        c.fakes = fakes  # type: ignore[attr-defined]
        yield c


def as_(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


CW = as_("cw-a1:caseworker")


async def create(client: httpx.AsyncClient, headers: dict[str, str] = CW) -> dict[str, Any]:
    response = await client.post("/v1/rotation/calendar-feeds", headers=headers)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def path_of(url: str) -> str:
    assert url.startswith("https://assignment.example.se/base/v1/rotation/calendar/")
    return url.removeprefix("https://assignment.example.se/base")


async def test_a_created_link_opens_the_rotation_calendar_without_a_bearer_header(client: Any) -> None:
    await client.fakes.assign(received("R-SECRET-1", at=NOW))
    created = await create(client)
    assert created["staff_id"] == "cw-a1" and created["active"] and created["revoked_at"] is None
    feed = await client.get(path_of(created["url"]))
    assert feed.status_code == 200
    assert feed.headers["content-type"] == "text/calendar; charset=utf-8"
    assert feed.headers["cache-control"] == "private"
    assert feed.headers["referrer-policy"] == "no-referrer"
    bearer = await client.get("/v1/rotation/calendar.ics", headers=CW)
    # The same on-duty periods; the fixed meetings of the owner's team only (issue 22).
    assert feed.text.count(" on duty") == bearer.text.count(" on duty") > 0
    assert 0 < feed.text.count("BEGIN:VEVENT") < bearer.text.count("BEGIN:VEVENT")
    assert "SUMMARY:" in feed.text and "R-SECRET-1" not in feed.text and "cw-" not in feed.text
    (listed,) = (await client.get("/v1/rotation/calendar-feeds", headers=CW)).json()
    assert listed["last_used_at"] is not None and "url" not in listed
    token = created["url"].rsplit("/", 1)[1].removesuffix(".ics")
    assert token not in str(client.fakes.tables.calendar_feeds)  # only the hash is kept


async def test_the_list_holds_only_the_callers_own_feeds(client: Any) -> None:
    mine = await create(client)
    await create(client, as_("cw-a2:caseworker"))
    listed = (await client.get("/v1/rotation/calendar-feeds", headers=CW)).json()
    assert [f["id"] for f in listed] == [mine["id"]]


async def test_revoked_expired_unknown_and_departed_feeds_answer_404(client: Any) -> None:
    revoked, expiring, departed = await create(client), await create(client), await create(client)
    gone = await client.delete(f"/v1/rotation/calendar-feeds/{revoked['id']}", headers=CW)
    assert gone.status_code == 200 and gone.json()["revoked_at"] is not None and not gone.json()["active"]
    assert (await client.get(path_of(revoked["url"]))).status_code == 404
    client.fakes.unit = dataclasses.replace(client.fakes.unit, people=client.fakes.unit.people - {"cw-a1"})
    app_api = client._transport.app.state.assignment
    client._transport.app.state.assignment = dataclasses.replace(app_api, unit=client.fakes.unit)
    assert (await client.get(path_of(departed["url"]))).status_code == 404
    client._transport.app.state.assignment = app_api
    client.fakes.clock.set(NOW + timedelta(days=365))
    assert (await client.get(path_of(expiring["url"]))).status_code == 404
    unknown = await client.get("/v1/rotation/calendar/" + "A" * 43 + ".ics")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
    assert (await client.get("/v1/rotation/calendar/short.ics")).status_code == 404


@pytest.mark.parametrize(
    ("token", "status"),
    [
        ("cw-a1:caseworker", 200),
        ("mgr-b:manager", 200),
        ("head:head_of_unit", 200),
        ("cw-a2:caseworker", 403),
        ("cw-a1:nothing", 403),
    ],
)
async def test_a_feed_is_revoked_by_its_owner_a_manager_or_the_head(
    client: Any, token: str, status: int
) -> None:
    feed = await create(client)
    response = await client.delete(f"/v1/rotation/calendar-feeds/{feed['id']}", headers=as_(token))
    assert response.status_code == status
    still_open = (await client.get(path_of(feed["url"]))).status_code
    assert still_open == (404 if status == 200 else 200)


async def test_signed_out_callers_get_401_and_unknown_feeds_404(client: Any) -> None:
    assert (await client.post("/v1/rotation/calendar-feeds")).status_code == 401
    assert (await client.get("/v1/rotation/calendar-feeds")).status_code == 401
    assert (await client.delete("/v1/rotation/calendar-feeds/1")).status_code == 401
    assert (await client.post("/v1/rotation/calendar-feeds", headers=as_("x:nothing"))).status_code == 403
    missing = await client.delete("/v1/rotation/calendar-feeds/999", headers=CW)
    assert missing.status_code == 404 and missing.json()["title"] == "Not found"
    for beyond in ("0", str(2**63), "x"):
        refused = await client.delete(f"/v1/rotation/calendar-feeds/{beyond}", headers=CW)
        assert refused.status_code == 422 and refused.json()["errors"][0]["loc"] == ["path", "feed_id"]


async def test_revoking_twice_keeps_the_first_time(client: Any) -> None:
    feed = await create(client)
    first = (await client.delete(f"/v1/rotation/calendar-feeds/{feed['id']}", headers=CW)).json()
    client.fakes.clock.set(NOW + timedelta(hours=1))
    again = (await client.delete(f"/v1/rotation/calendar-feeds/{feed['id']}", headers=CW)).json()
    assert again["revoked_at"] == first["revoked_at"]


async def test_the_token_is_in_no_log_line_of_the_service(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    feed = await create(client)
    await client.get(path_of(feed["url"]))
    await client.get("/v1/rotation/calendar/" + "B" * 43 + ".ics")
    token = feed["url"].rsplit("/", 1)[1].removesuffix(".ics")
    service_lines = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records if r.name != "httpx")
    assert token not in service_lines and "B" * 43 not in service_lines


def test_the_openapi_document_names_the_feed_routes() -> None:
    app = FastAPI()
    for router in api.ROUTERS:
        app.include_router(router)
    paths = app.openapi()["paths"]
    assert set(paths["/v1/rotation/calendar-feeds"]) == {"get", "post"}
    assert set(paths["/v1/rotation/calendar-feeds/{feed_id}"]) == {"delete"}
    feed = paths["/v1/rotation/calendar/{token}.ics"]["get"]
    assert "text/calendar" in feed["responses"]["200"]["content"] and "security" not in feed
