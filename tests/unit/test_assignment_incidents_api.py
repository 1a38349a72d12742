"""The staff API of threats and violence and of the safety flag (issue 22), on the in-memory
fakes: who may record, list, summarise, set and clear; codes only, nothing half stored."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.assignment import api
from shared.http import add_problem_handlers
from tests.assignment_support import Fakes, local, received
from tests.unit.test_assignment_api import as_, authenticate

MONDAY = local(2026, 10, 5, 10, 0)  # team-b on duty: R-1 goes to cw-b1
REFERRAL = "R-7Q2K9M3XH4TB"  # intake's ids are opaque text
INCIDENT = {"occurred_on": "2026-10-02", "type": "threat", "channel": "home_visit"}
PARTNER = as_("partner-1:partner")
CW_B1, CW_A1, MGR_B, MGR_A = (
    as_("cw-b1:caseworker"),
    as_("cw-a1:caseworker"),
    as_("mgr-b:manager"),
    as_("mgr-a:manager"),
)
HEAD, INTAKE = as_("head:head_of_unit"), as_("in-1:intake")


@pytest.fixture
async def staff_api() -> Any:
    fakes = Fakes(MONDAY)
    await fakes.assign(received("R-1", at=MONDAY), received(REFERRAL, at=MONDAY))
    app = FastAPI()
    add_problem_handlers(app)
    for router in api.ROUTERS:
        app.include_router(router)
    app.state.assignment = api.AssignmentApi(fakes.unit, fakes.uow, fakes.clock, authenticate)
    api.add_domain_problem_handlers(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as client:
        client.fakes = fakes  # type: ignore[attr-defined]
        yield client


def workplace_events(fakes: Fakes) -> list[dict[str, Any]]:
    return [json.loads(p) for _, topic, _, p in fakes.tables.outbox if topic == "workplace.v1"]


async def test_an_incident_is_stored_with_the_recorders_team_and_its_event_has_codes_only(
    staff_api: Any,
) -> None:
    body = {**INCIDENT, "referral_id": REFERRAL}
    response = await staff_api.post("/v1/incidents", json=body, headers=CW_B1)
    assert response.status_code == 201, response.text
    out = response.json()
    assert {k: out[k] for k in ("occurred_on", "type", "channel", "team", "recorded_by", "referral_id")} == {
        **body,
        "team": "team-b",
        "recorded_by": "cw-b1",
    }
    assert out["recorded_at"] == MONDAY.isoformat()
    [event] = workplace_events(staff_api.fakes)
    assert event["event_type"] == "incident.recorded"
    assert event["data"] == {
        "family_key": out["incident_id"],
        "incident_id": out["incident_id"],
        "occurred_on": "2026-10-02",
        "type": "threat",
        "channel": "home_visit",
        "team": "team-b",
        "requester": "cw-b1",
        "referral_id": REFERRAL,
    }


@pytest.mark.parametrize(
    ("body", "status", "where"),
    [
        ({**INCIDENT, "description": "Anna Andersson hotade"}, 422, "description"),  # no free text at all
        ({**INCIDENT, "occurred_on": "2026-10-06"}, 422, "occurred_on"),  # tomorrow
        ({**INCIDENT, "occurred_on": "2025-10-04"}, 422, "occurred_on"),  # more than a year back
        ({**INCIDENT, "type": "rudeness"}, 422, "type"),
        ({**INCIDENT, "channel": "pigeon"}, 422, "channel"),
        ({**INCIDENT, "referral_id": "R 1"}, 422, "referral_id"),  # not an id
        ({**INCIDENT, "referral_id": "R-NEVER"}, 422, "referral_id"),  # never assigned
    ],
)
async def test_a_bad_incident_is_refused_naming_the_field_and_nothing_is_stored(
    staff_api: Any, body: dict[str, Any], status: int, where: str
) -> None:
    before = list(staff_api.fakes.tables.outbox)
    response = await staff_api.post("/v1/incidents", json=body, headers=CW_B1)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert where in response.text
    assert staff_api.fakes.tables.incidents == {} and staff_api.fakes.tables.outbox == before


async def record(staff_api: Any, token: dict[str, str], **fields: str) -> str:
    response = await staff_api.post("/v1/incidents", json={**INCIDENT, **fields}, headers=token)
    assert response.status_code == 201, response.text
    return str(response.json()["incident_id"])


async def listed(staff_api: Any, token: dict[str, str], query: str = "") -> list[str]:
    response = await staff_api.get(f"/v1/incidents{query}", headers=token)
    assert response.status_code == 200, response.text
    return [i["incident_id"] for i in response.json()["incidents"]]


async def test_the_head_lists_every_teams_a_manager_their_teams_and_a_recorder_their_own(
    staff_api: Any,
) -> None:
    b = await record(staff_api, CW_B1, occurred_on="2026-09-01")
    a = await record(staff_api, CW_A1, occurred_on="2026-09-02", type="violence")
    unit = await record(staff_api, INTAKE, occurred_on="2026-09-03", channel="phone")
    assert await listed(staff_api, HEAD) == [b, a, unit]
    assert await listed(staff_api, HEAD, "?team=team-a") == [a]
    assert await listed(staff_api, MGR_B) == [b]
    assert await listed(staff_api, CW_A1) == [a]
    assert await listed(staff_api, INTAKE) == [unit]
    assert await listed(staff_api, HEAD, "?from=2026-09-02&to=2026-09-02") == [a]
    other = await staff_api.get("/v1/incidents?team=team-a", headers=MGR_B)
    assert other.status_code == 403
    backwards = await staff_api.get("/v1/incidents?from=2026-09-02&to=2026-09-01", headers=HEAD)
    assert (backwards.status_code, backwards.json()["title"]) == (422, "Invalid incident")


async def test_the_quarterly_summary_counts_without_names_for_the_head_and_a_manager(staff_api: Any) -> None:
    await record(staff_api, CW_B1, occurred_on="2026-09-01")
    await record(staff_api, CW_A1, occurred_on="2026-09-02", type="violence")
    await record(staff_api, INTAKE, occurred_on="2026-10-01", channel="phone")  # Q4
    whole = await staff_api.get("/v1/incidents/summary?quarter=2026Q3", headers=HEAD)
    assert whole.status_code == 200, whole.text
    assert whole.json() == {
        "quarter": "2026Q3",
        "from": "2026-07-01",
        "to": "2026-09-30",
        "total": 2,
        "by_type": {"threat": 1, "violence": 1, "harassment": 0},
        "by_team": {"team-a": {"violence": 1}, "team-b": {"threat": 1}},
        "by_channel": {"home_visit": 2},
    }
    mine = (await staff_api.get("/v1/incidents/summary?quarter=2026Q3", headers=MGR_B)).json()
    assert (mine["total"], mine["by_team"]) == (1, {"team-b": {"threat": 1}})
    for token, query, status in (
        (CW_B1, "quarter=2026Q3", 403),
        (MGR_B, "quarter=2026Q3&team=team-a", 403),
        (HEAD, "quarter=2026Q5", 422),
        (HEAD, "", 422),
    ):
        response = await staff_api.get(f"/v1/incidents/summary?{query}", headers=token)
        assert response.status_code == status, (query, response.text)
    assert "cw-" not in whole.text and "in-1" not in whole.text


async def test_a_partner_is_refused_everywhere_here(staff_api: Any) -> None:
    requests = [
        ("POST", "/v1/incidents", INCIDENT),
        ("GET", "/v1/incidents", None),
        ("GET", "/v1/incidents/summary?quarter=2026Q3", None),
        ("PUT", f"/v1/referrals/{REFERRAL}/safety-flag", {"flag": "two_staff_home_visits"}),
        ("DELETE", f"/v1/referrals/{REFERRAL}/safety-flag", None),
        ("GET", f"/v1/referrals/{REFERRAL}", None),
        ("GET", "/v1/referrals", None),
    ]
    for method, path, body in requests:
        response = await staff_api.request(method, path, json=body, headers=PARTNER)
        assert response.status_code == 403, (method, path, response.text)
    assert staff_api.fakes.tables.incidents == {} and staff_api.fakes.tables.safety_flag_changes == []


FLAG = {"flag": "two_staff_home_visits"}


@pytest.mark.parametrize(
    ("token", "status"),
    [
        (CW_B1, 200),  # the referral's caseworker
        (MGR_B, 200),  # its team's manager
        (HEAD, 200),
        (INTAKE, 200),
        (CW_A1, 403),  # a caseworker of another team
        (as_("cw-b2:caseworker"), 403),  # a colleague in the team, not theirs
        (MGR_A, 403),  # another team's manager
        (as_("cw-b1:intake"), 403),  # the caseworker's id with a role that holds no relation
    ],
)
async def test_who_may_set_a_safety_flag_is_decided_by_relation(
    staff_api: Any, token: dict[str, str], status: int
) -> None:
    assert staff_api.fakes.case("R-1").caseworker == "cw-b1"
    response = await staff_api.put("/v1/referrals/R-1/safety-flag", json=FLAG, headers=token)
    assert response.status_code == status, response.text
    flag = "two_staff_home_visits" if status == 200 else None
    assert staff_api.fakes.case("R-1").safety_flag == flag
    assert len(staff_api.fakes.tables.safety_flag_changes) == (status == 200)


async def test_a_flag_shows_in_the_dossier_and_the_queue_survives_a_reassignment_and_is_cleared(
    staff_api: Any,
) -> None:
    put = await staff_api.put("/v1/referrals/R-1/safety-flag", json=FLAG, headers=CW_B1)
    assert put.json() == {
        "referral_id": "R-1",
        "safety_flag": "two_staff_home_visits",
        "set_by": "cw-b1",
        "set_at": MONDAY.isoformat(),
    }
    moved = await staff_api.post(
        "/v1/referrals/R-1/reassign", json={"caseworker": "cw-b2", "reason": "balans"}, headers=MGR_B
    )
    assert (moved.json()["caseworker"], moved.json()["safety_flag"]) == ("cw-b2", "two_staff_home_visits")
    dossier = (await staff_api.get("/v1/referrals/R-1", headers=INTAKE)).json()
    assert dossier["safety_flag"] == "two_staff_home_visits"
    queue = (await staff_api.get("/v1/referrals?team=team-b", headers=MGR_B)).json()["items"]
    assert {i["referral_id"]: i["safety_flag"] for i in queue} == {
        "R-1": "two_staff_home_visits",
        REFERRAL: None,
    }
    refused = await staff_api.delete("/v1/referrals/R-1/safety-flag", headers=CW_B1)  # no longer theirs
    assert refused.status_code == 403
    cleared = await staff_api.delete("/v1/referrals/R-1/safety-flag", headers=as_("cw-b2:caseworker"))
    assert (cleared.status_code, cleared.json()["safety_flag"], cleared.json()["set_by"]) == (
        200,
        None,
        "cw-b2",
    )
    assert (await staff_api.get("/v1/referrals/R-1", headers=INTAKE)).json()["safety_flag"] is None
    assert [(c.safety_flag, c.set_by) for c in staff_api.fakes.tables.safety_flag_changes] == [
        ("two_staff_home_visits", "cw-b1"),
        (None, "cw-b2"),
    ]
    assert [e["event_type"] for e in staff_api.fakes.events()].count("referral.reassigned") == 1
    assert not any("safety" in json.dumps(e) for e in staff_api.fakes.events())  # events unchanged


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/v1/referrals/R-none/safety-flag", FLAG, 404),
        ("/v1/referrals/R-1/safety-flag", {"flag": "armed_guard"}, 422),
        ("/v1/referrals/R-1/safety-flag", {}, 422),
    ],
)
async def test_a_bad_safety_flag_request_is_refused_and_changes_nothing(
    staff_api: Any, path: str, body: dict[str, Any], status: int
) -> None:
    response = await staff_api.put(path, json=body, headers=HEAD)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert (
        staff_api.fakes.case("R-1").safety_flag is None and staff_api.fakes.tables.safety_flag_changes == []
    )


async def test_a_name_typed_into_an_incident_reaches_no_log_and_no_store(
    staff_api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    name = "Saga Synthetisk"
    for extra in ({"description": name}, {"channel": name}, {"referral_id": name}):
        response = await staff_api.post("/v1/incidents", json={**INCIDENT, **extra}, headers=CW_B1)
        assert response.status_code == 422
    assert name not in caplog.text
    assert staff_api.fakes.tables.incidents == {} and workplace_events(staff_api.fakes) == []
