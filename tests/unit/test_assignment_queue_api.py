"""`GET /v1/referrals` (work queues, issue 19) at the staff API's edge, on the in-memory fakes:
200, 401, 403 and 422 per role and filter, the cursor, and items that hold no client details."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.assignment import api
from services.assignment.api.queues import encode_cursor
from services.assignment.domain.registration import Registration
from services.assignment.handlers.registration import record_registrations
from shared.http import add_problem_handlers
from tests.assignment_support import Fakes, local, received
from tests.unit.test_assignment_api import as_, authenticate

MONDAY = local(2026, 10, 5, 10, 0)  # team-b on duty
TWO_WEEKS_ON = local(2026, 10, 19, 10, 0)  # team-c on duty
# Exactly what a queue item may hold: ids, codes, flags and times (CONTRACTS.md §3), no age band
# (no event assignment receives carries one), nothing about the child, family, reporter or concern.
ITEM_FIELDS = {
    "referral_id", "team", "caseworker", "mentor", "status", "categories", "acute", "received_at",
    "deadlines", "deadline_state", "next_due_at", "registered", "registered_at", "safety_flag",
}  # fmt: skip
DEADLINE_FIELDS = {"due_at", "met_at", "state"}
CLOCKS = {
    "protection_assessment",
    "preliminary_assessment",
    "investigation",
    "reporter_feedback",
    "registration",
}


@pytest.fixture
async def staff_api() -> Any:
    fakes = Fakes(MONDAY)
    await fakes.assign(*[received(f"R-b{n}", at=MONDAY, categories=("violence",)) for n in range(4)])
    await fakes.assign(received("R-c0", at=TWO_WEEKS_ON, acute=True))
    uow = fakes.uow()
    async with uow:
        await record_registrations(uow, [Registration("R-b0", MONDAY, "in-1")])
        await uow.commit()
    app = FastAPI()
    add_problem_handlers(app)
    for router in api.ROUTERS:
        app.include_router(router)
    app.state.assignment = api.AssignmentApi(fakes.unit, fakes.uow, fakes.clock, authenticate)
    api.add_domain_problem_handlers(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://assignment") as client:
        client.fakes = fakes  # type: ignore[attr-defined]
        yield client


async def queue(client: httpx.AsyncClient, token: str, **params: Any) -> httpx.Response:
    return await client.get("/v1/referrals", params=params, headers=as_(token))


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["referral_id"] for item in response.json()["items"]]


async def test_each_role_gets_its_own_queue(staff_api: Any) -> None:
    fakes: Fakes = staff_api.fakes
    worker = fakes.case("R-b1").caseworker
    theirs = sorted(r for r in ("R-b0", "R-b1", "R-b2", "R-b3") if fakes.case(r).caseworker == worker)
    assert sorted(ids(await queue(staff_api, f"{worker}:caseworker"))) == theirs
    assert sorted(ids(await queue(staff_api, "mgr-b:manager"))) == ["R-b0", "R-b1", "R-b2", "R-b3"]
    assert ids(await queue(staff_api, "mgr-a:manager")) == []
    assert sorted(ids(await queue(staff_api, "in-1:intake"))) == ["R-b0", "R-b1", "R-b2", "R-b3", "R-c0"]
    assert sorted(ids(await queue(staff_api, "head:head_of_unit", team="team-c"))) == ["R-c0"]


async def test_the_queue_is_most_urgent_first_and_filters_combine(staff_api: Any) -> None:
    staff_api.fakes.clock.set(local(2026, 10, 5, 16, 30))  # the registration of the unregistered breached
    body = (await queue(staff_api, "head:head_of_unit")).json()
    states = [item["deadline_state"] for item in body["items"]]
    # R-b0 is registered, its protection assessment due at 17:00 within its two-hour reminder.
    assert states == ["breached", "breached", "breached", "approaching", "ok"]
    assert [i["referral_id"] for i in body["items"]][:3] == ["R-b1", "R-b2", "R-b3"]  # same due time: by id
    unregistered = ids(await queue(staff_api, "head:head_of_unit", registered="false", deadline="breached"))
    assert unregistered == ["R-b1", "R-b2", "R-b3"]
    assert ids(await queue(staff_api, "head:head_of_unit", registered="true", team="team-b")) == ["R-b0"]
    assert ids(await queue(staff_api, "head:head_of_unit", status="closed")) == []


async def test_a_queue_is_read_page_by_page_with_the_opaque_cursor(staff_api: Any) -> None:
    everything = ids(await queue(staff_api, "head:head_of_unit"))
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = (await queue(staff_api, "head:head_of_unit", **params)).json()
        seen += [item["referral_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == everything and len(seen) == 5


@pytest.mark.parametrize(
    ("token", "params"),
    [
        ("cw-b2:caseworker", {"assignee": "cw-b3"}),  # a colleague's queue
        ("cw-b2:caseworker", {"team": "team-a"}),
        ("mgr-b:manager", {"team": "team-a"}),
        ("mgr-b:manager", {"assignee": "cw-a1"}),
        ("partner-1:partner", {}),
        ("cw-b2:intake", {}),  # the role without the position
    ],
)
async def test_asking_for_a_queue_without_the_right_is_403(
    staff_api: Any, token: str, params: Any, caplog: pytest.LogCaptureFixture
) -> None:
    response = await queue(staff_api, token, **params)
    assert response.status_code == 403
    [refusal] = [r for r in caplog.records if r.getMessage().startswith("work queue refused")]
    assert refusal.staff == token.split(":")[0]  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "R-" not in response.text  # says nothing of what the queue holds


async def test_a_queue_without_a_token_is_401(staff_api: Any) -> None:
    assert (await staff_api.get("/v1/referrals")).status_code == 401


@pytest.mark.parametrize(
    "params",
    [
        {"deadline": "soon"},
        {"status": "open"},
        {"registered": "perhaps"},
        {"limit": 0},
        {"limit": 201},
        {"assignee": "Robert Tables"},
        {"assignee": "cw-zz"},  # no such staff id
        {"team": "team-z"},
        {"cursor": "not-a-cursor"},
        {"cursor": "WyJ4IiwiUi0xIl0"},  # JSON, but not a position
        {"cursor": encode_cursor((datetime(1, 1, 1, 23, tzinfo=timezone(timedelta(hours=-5))), "R-1"))},
        {"cursor": "WyIwMDAxLTAxLTAxVDAwOjAwOjAwKzE0OjAwIiwiUi0xIl0"},  # before year 1 in UTC
    ],
)
async def test_a_bad_filter_is_a_422_problem(staff_api: Any, params: Any) -> None:
    response = await queue(staff_api, "head:head_of_unit", **params)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_queue_items_hold_exactly_the_allowed_fields_and_no_client_details(staff_api: Any) -> None:
    body = (await queue(staff_api, "head:head_of_unit")).json()
    assert set(body) == {"items", "next_cursor", "at"}
    assert len(body["items"]) == 5
    for item in body["items"]:
        assert set(item) == ITEM_FIELDS
        assert set(item["deadlines"]) <= CLOCKS
        assert {"protection_assessment", "preliminary_assessment", "registration"} <= set(item["deadlines"])
        for deadline in item["deadlines"].values():
            assert set(deadline) == DEADLINE_FIELDS
    keys = {"child_key", "family_key", "c-R-b0", "f-R-b0", "submission_id", "s-R-b0"}
    assert not [k for k in keys if k in str(body)]  # not even the pseudonymous keys


async def test_a_referrals_state_shows_its_registration_and_its_deadline(staff_api: Any) -> None:
    registered = (await staff_api.get("/v1/referrals/R-b0", headers=as_("cw-b1:caseworker"))).json()
    assert registered["registration"] == {
        "registered": True, "registered_at": MONDAY.isoformat(), "registered_by": "in-1"
    }  # fmt: skip
    assert registered["deadlines"]["registration"]["met_at"] == MONDAY.isoformat()
    waiting = (await staff_api.get("/v1/referrals/R-b1", headers=as_("cw-b1:caseworker"))).json()
    assert waiting["registration"]["registered"] is False
    assert waiting["deadlines"]["registration"] == {
        "due_at": local(2026, 10, 5, 16, 0).isoformat(),
        "met_at": None,
    }
