"""The overload-flag endpoints on the in-memory fakes: statuses, problem details with field
paths, who sees a note, and the workload board's `overload`."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.assignment import api
from shared.http import add_problem_handlers
from tests.assignment_support import UNIT, Fakes, local
from tests.unit.test_assignment_api import authenticate

MONDAY = local(2026, 10, 5, 10, 0)
NOTE = {"note": "Synthetic: too much this week"}


def as_(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


CW_B1, CW_B2 = as_("cw-b1:caseworker"), as_("cw-b2:caseworker")
MGR_A, MGR_B, HEAD = as_("mgr-a:manager"), as_("mgr-b:manager"), as_("head:head_of_unit")


@pytest.fixture
async def client() -> Any:
    fakes = Fakes(MONDAY, dataclasses.replace(UNIT))
    app = FastAPI()
    add_problem_handlers(app)
    for router in api.ROUTERS:
        app.include_router(router)
    app.state.assignment = api.AssignmentApi(fakes.unit, fakes.uow, fakes.clock, authenticate)
    api.add_domain_problem_handlers(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as c:
        c.fakes = fakes  # type: ignore[attr-defined]
        yield c


async def test_a_flag_is_raised_by_the_person_and_a_second_one_is_a_conflict_naming_the_first(client) -> None:
    created = await client.post("/v1/staff/cw-b1/overload-flags", json=NOTE, headers=CW_B1)
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"flag_id", "raised_at", "escalate_at"}
    assert body["escalate_at"] == "2026-10-05T12:00:00Z"  # 10:00 local + 4 office hours, in UTC
    again = await client.post("/v1/staff/cw-b1/overload-flags", json={}, headers=CW_B1)
    assert again.status_code == 409 and again.json()["flag_id"] == body["flag_id"]
    assert again.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("path", "body", "headers", "status"),
    [
        ("/v1/staff/cw-b1/overload-flags", {}, CW_B2, 403),  # someone else's
        ("/v1/staff/mgr-b/overload-flags", {}, MGR_B, 422),  # not a caseworker
        ("/v1/staff/cw-b1/overload-flags", {"note": "x" * 301}, CW_B1, 422),
        ("/v1/staff/cw-b1/overload-flags", {"note": "x", "extra": 1}, CW_B1, 422),
        ("/v1/staff/cw-b1/overload-flags", {}, as_("partner-1:partner"), 403),
    ],
)
async def test_raising_is_refused_with_problem_details(
    client, path: str, body: Any, headers: Any, status: int
) -> None:
    refused = await client.post(path, json=body, headers=headers)
    assert refused.status_code == status
    assert refused.headers["content-type"] == "application/problem+json"
    assert "Synthetic" not in refused.text


async def test_an_answer_with_a_missing_field_names_it_and_stores_nothing(client) -> None:
    flag_id = (await client.post("/v1/staff/cw-b1/overload-flags", json=NOTE, headers=CW_B1)).json()[
        "flag_id"
    ]
    path = f"/v1/overload-flags/{flag_id}/response"
    no_until = await client.post(
        path, json={"action": "relieve", "capacity_factor": 0.5, "comment": "c"}, headers=MGR_B
    )
    assert no_until.status_code == 422 and no_until.json()["errors"][0]["loc"] == ["body", "until"]
    relief = {
        "action": "relieve",
        "capacity_factor": 1.5,
        "until": "2026-10-09T17:00:00+02:00",
        "comment": "c",
    }
    bad_factor = await client.post(path, json=relief, headers=MGR_B)
    assert bad_factor.status_code == 422 and bad_factor.json()["errors"][0]["loc"] == [
        "body",
        "capacity_factor",
    ]
    assert (await client.post(path, json={"action": "keep"}, headers=MGR_B)).status_code == 422
    assert (
        await client.post(path, json={"action": "keep", "comment": "c"}, headers=MGR_A)
    ).status_code == 403
    assert (
        await client.post(path, json={"action": "keep", "comment": "c"}, headers=CW_B1)
    ).status_code == 403
    assert client.fakes.tables.overload_flags[flag_id].open


async def test_the_answer_comes_back_as_the_flag_and_a_second_answer_is_a_conflict(client) -> None:
    flag_id = (await client.post("/v1/staff/cw-b1/overload-flags", json=NOTE, headers=CW_B1)).json()[
        "flag_id"
    ]
    path = f"/v1/overload-flags/{flag_id}/response"
    body = {
        "action": "relieve",
        "capacity_factor": 0.5,
        "until": "2026-10-09T17:00:00+02:00",
        "comment": "Vi ses",
    }
    before = await capacity_of(client, "cw-b1")
    client.fakes.clock.set(local(2026, 10, 5, 11, 30))
    answered = await client.post(path, json=body, headers=MGR_B)
    assert answered.status_code == 200
    flag = answered.json()
    assert (flag["action"], flag["capacity_factor"], flag["responded_by"], flag["response_seconds"]) == (
        "relieve", 0.5, "mgr-b", 5400,
    )  # fmt: skip
    assert (await client.post(path, json=body, headers=HEAD)).status_code == 409
    unknown = await client.post(
        "/v1/overload-flags/00000000-0000-0000-0000-000000000000/response", json=body, headers=HEAD
    )
    assert unknown.status_code == 404
    workload = (await client.get("/v1/workload", headers=MGR_B)).json()["caseworkers"]
    row = next(r for r in workload if r["staff_id"] == "cw-b1")
    assert row["overload"] == {"flag_id": flag_id, "state": "relieved", "until": "2026-10-09T15:00:00Z"}
    assert row["capacity"] == before / 2  # as selection counts it while the relief runs
    client.fakes.clock.set(local(2026, 10, 9, 17, 0))
    assert await capacity_of(client, "cw-b1") == before


async def capacity_of(client: Any, staff_id: str) -> float:
    rows = (await client.get("/v1/workload", headers=MGR_B)).json()["caseworkers"]
    capacity: float = next(r["capacity"] for r in rows if r["staff_id"] == staff_id)
    return capacity


async def test_the_list_shows_a_team_to_its_manager_all_to_the_head_and_ones_own_history(client) -> None:
    await client.post("/v1/staff/cw-b1/overload-flags", json=NOTE, headers=CW_B1)
    await client.post("/v1/staff/cw-a1/overload-flags", json={}, headers=as_("cw-a1:caseworker"))
    mine = (await client.get("/v1/overload-flags?team=team-b&open=true", headers=MGR_B)).json()["flags"]
    assert [(f["staff"], f["note"], f["action"]) for f in mine] == [("cw-b1", NOTE["note"], None)]
    assert (await client.get("/v1/overload-flags?team=team-a", headers=MGR_B)).status_code == 403
    assert (await client.get("/v1/overload-flags", headers=CW_B2)).status_code == 403
    assert len((await client.get("/v1/overload-flags", headers=HEAD)).json()["flags"]) == 2
    own = (await client.get("/v1/overload-flags?staff=me", headers=CW_B1)).json()["flags"]
    assert [f["staff"] for f in own] == ["cw-b1"]
    assert (await client.get("/v1/overload-flags?staff=me", headers=CW_B2)).json() == {"flags": []}
    board = (await client.get("/v1/workload", headers=MGR_B)).json()["caseworkers"]
    states = {r["staff_id"]: r["overload"] and r["overload"]["state"] for r in board}
    assert (states["cw-b1"], states["cw-a1"], states["cw-b2"]) == ("open", "open", None)
    assert "Synthetic" not in str(board)
