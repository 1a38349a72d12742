"""The staff API's edge on the in-memory fakes: domain refusals become problem details, here only."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.security import HTTPAuthorizationCredentials

from services.assignment import api
from services.assignment.api.problems import PROBLEMS
from services.assignment.domain.errors import AssignmentRefused
from shared.http import ApiProblem, add_problem_handlers
from shared.staff_auth import Principal
from tests.assignment_support import Fakes, local, received

MONDAY = local(2026, 10, 5, 10, 0)  # team-b on duty


async def authenticate(credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """Tokens here are `<staff id>:<role>,<role>`."""
    if credentials is None:
        raise ApiProblem(401, "Unauthorized")
    sub, roles = credentials.credentials.split(":")
    return Principal(sub, frozenset(roles.split(",")))


@pytest.fixture
async def staff_api() -> Any:
    fakes = Fakes(MONDAY)
    await fakes.assign(received("R-1", at=MONDAY))
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


def as_(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


MANAGER = as_("mgr-b:manager")
AT = MONDAY.isoformat()
DAY_BEFORE = "2026-10-04T10:00:00+02:00"
DAY_AFTER = "2026-10-06T10:00:00+02:00"
SICK = {"kind": "sick", "starts_on": "2027-01-01"}


def test_every_domain_refusal_has_a_status_and_a_title() -> None:
    assert set(PROBLEMS) == set(AssignmentRefused.__subclasses__())


@pytest.mark.parametrize(
    ("method", "path", "body", "token", "status", "title"),
    [
        ("GET", "/v1/referrals/R-none", None, "cw-b1:caseworker", 404, "Not found"),
        ("POST", "/v1/referrals/R-1/close", {"at": AT}, "mgr-b:manager", 409, "Conflict"),
        ("POST", "/v1/referrals/R-1/acknowledge", None, "cw-zz:caseworker", 403, "Forbidden"),
        ("POST", "/v1/referrals/R-1/decision", {"decision": "no_investigation", "at": DAY_BEFORE},
         "mgr-b:manager", 422, "Invalid time"),
        ("POST", "/v1/referrals/R-1/reassign", {"caseworker": "mgr-a", "reason": "x"}, "mgr-b:manager", 422,
         "Unknown caseworker"),
        ("POST", "/v1/rotation/overrides", {"team": "team-x", "starts_at": AT, "ends_at": DAY_AFTER,
                                            "reason": "x"}, "mgr-b:manager", 422, "Unknown team"),
        ("POST", "/v1/rotation/overrides", {"team": "team-a", "starts_at": AT, "ends_at": AT, "reason": "x"},
         "mgr-b:manager", 422, "Invalid window"),
        ("POST", "/v1/staff/nobody/absences", {**SICK, "ends_on": "2027-01-02"}, "mgr-b:manager", 404,
         "Not found"),
        ("POST", "/v1/staff/cw-b1/absences", {**SICK, "ends_on": "2026-12-31"}, "mgr-b:manager", 422,
         "Invalid dates"),
        ("GET", "/v1/rotation/schedule?from=2027-01-02&to=2027-01-01", None, "cw-b1:caseworker", 422,
         "Invalid range"),
    ],
)  # fmt: skip
async def test_a_refused_request_is_answered_with_problem_details_and_stores_nothing(
    staff_api: Any, method: str, path: str, body: Any, token: str, status: int, title: str
) -> None:
    before = staff_api.fakes.case("R-1"), list(staff_api.fakes.tables.outbox)
    response = await staff_api.request(method, path, json=body, headers=as_(token))
    assert (response.status_code, response.json()["title"]) == (status, title), response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert (staff_api.fakes.case("R-1"), staff_api.fakes.tables.outbox) == before


async def test_feedback_sent_is_no_longer_recorded_here_where_intake_would_never_hear_of_it(
    staff_api: Any,
) -> None:
    """Intake's `POST …/feedback-sent` and its `reporter_feedback.sent` event are the one path:
    assignment's old `POST …/feedback` is gone (404), not documented, and stops no clock."""
    await staff_api.fakes.assign(received("R-2", at=MONDAY, feedback=True))
    decided = await staff_api.post(
        "/v1/referrals/R-2/decision", json={"decision": "no_investigation", "at": AT}, headers=MANAGER
    )
    assert decided.json()["deadlines"]["reporter_feedback"]["met_at"] is None
    before = staff_api.fakes.case("R-2"), list(staff_api.fakes.tables.outbox)
    response = await staff_api.post("/v1/referrals/R-2/feedback", json={"at": AT}, headers=MANAGER)
    assert (response.status_code, response.json()["status"]) == (404, 404), response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert (staff_api.fakes.case("R-2"), staff_api.fakes.tables.outbox) == before
    assert staff_api.fakes.case("R-2").feedback_sent_at is None
    paths = (await staff_api.get("/openapi.json")).json()["paths"]
    assert "/v1/referrals/{referral_id}/decision" in paths
    assert [p for p in paths if "feedback" in p] == []


async def test_an_extension_not_later_than_the_due_date_is_refused(staff_api: Any) -> None:
    opened = await staff_api.post(
        "/v1/referrals/R-1/decision", json={"decision": "open_investigation", "at": AT}, headers=MANAGER
    )
    assert opened.json()["status"] == "investigating"
    response = await staff_api.post(
        "/v1/referrals/R-1/extend", json={"until": "2026-10-06", "reason": "x"}, headers=as_("mgr-b:manager")
    )
    assert (response.status_code, response.json()["title"]) == (422, "Invalid extension")


async def test_a_case_moves_through_its_lifecycle_and_the_workload_shows_loads_in_cases(
    staff_api: Any,
) -> None:
    mine = staff_api.fakes.case("R-1").caseworker
    acknowledged = await staff_api.post("/v1/referrals/R-1/acknowledge", headers=as_(f"{mine}:caseworker"))
    assert acknowledged.json()["status"] == "acknowledged"
    state = (await staff_api.get("/v1/referrals/R-1", headers=MANAGER)).json()
    assert (state["caseworker"], state["status"], state["deadlines"]["investigation"]) == (
        mine,
        "acknowledged",
        None,
    )
    workload = (await staff_api.get("/v1/workload", headers=MANAGER)).json()
    person = next(p for p in workload["caseworkers"] if p["staff_id"] == mine)
    assert mine == "cw-b1"  # the first in the team, all being equal; a mentor: half of 20 cases
    assert (person["open_cases"], person["weighted_load"], person["capacity"]) == (1, 1.0, 10.0)
    assert (person["new_hire"], person["mentees"]) == (False, ["cw-b5"])
    hire = next(p for p in workload["caseworkers"] if p["staff_id"] == "cw-b5")
    assert (hire["new_hire"], hire["mentor"], hire["mentees"]) == (True, "cw-b1", [])


async def test_a_referral_arriving_on_a_saturday_goes_to_the_team_on_duty_when_the_office_opens(
    staff_api: Any,
) -> None:
    saturday = {"at": "2026-10-10T12:00:00+02:00"}  # team-b holds until Monday 08:00, then team-c
    now = (await staff_api.get("/v1/rotation/on-duty", params=saturday, headers=MANAGER)).json()
    arriving = (await staff_api.get("/v1/rotation/arriving", params=saturday, headers=MANAGER)).json()
    assert now["team"] == "team-b"
    assert (arriving["team"], arriving["period_start"]) == ("team-c", "2026-10-12T08:00:00+02:00")
    in_hours = {"at": AT}
    response = await staff_api.get("/v1/rotation/arriving", params=in_hours, headers=as_("cw-a1:caseworker"))
    assert response.json()["team"] == "team-b"
    assert (await staff_api.get("/v1/rotation/arriving", params=saturday)).status_code == 401


async def test_a_caseworker_sees_only_their_own_load_and_not_the_whole_workload(staff_api: Any) -> None:
    mine = staff_api.fakes.case("R-1").caseworker
    own = await staff_api.get("/v1/workload", params={"staff": "me"}, headers=as_(f"{mine}:caseworker"))
    assert [(p["staff_id"], p["open_cases"]) for p in own.json()["caseworkers"]] == [(mine, 1)]
    everyone = (await staff_api.get("/v1/workload", headers=MANAGER)).json()["caseworkers"]
    assert own.json()["caseworkers"][0] == next(p for p in everyone if p["staff_id"] == mine)
    other = await staff_api.get("/v1/workload", params={"staff": "me"}, headers=as_("cw-a1:caseworker"))
    assert [(p["staff_id"], p["open_cases"]) for p in other.json()["caseworkers"]] == [("cw-a1", 0)]
    refused = await staff_api.get("/v1/workload", headers=as_(f"{mine}:caseworker"))
    assert refused.status_code == 403
    named = await staff_api.get("/v1/workload", params={"staff": "cw-a1"}, headers=as_(f"{mine}:caseworker"))
    assert named.status_code == 422
    intake = await staff_api.get("/v1/workload", params={"staff": "me"}, headers=as_("in-1:intake"))
    assert intake.json()["caseworkers"] == []


async def test_an_absence_is_ended_early_by_the_person_their_manager_or_the_head_only(staff_api: Any) -> None:
    sick = {"kind": "sick", "starts_on": "2026-10-01", "ends_on": "2026-10-20"}
    assert (await staff_api.post("/v1/staff/cw-b2/absences", json=sick, headers=MANAGER)).status_code == 201
    back = {"back_on": "2026-10-07"}
    for someone in ("mgr-a:manager", "cw-b3:caseworker", "in-1:intake"):  # another team's manager
        refused = await staff_api.post("/v1/staff/cw-b2/absences/end", json=back, headers=as_(someone))
        assert refused.status_code == 403, someone
    ended = await staff_api.post("/v1/staff/cw-b2/absences/end", json=back, headers=MANAGER)
    assert (ended.status_code, ended.json()["absences_ended"]) == (200, 1)
    workload = (await staff_api.get("/v1/workload", headers=MANAGER)).json()["caseworkers"]
    person = next(p for p in workload if p["staff_id"] == "cw-b2")
    assert person["absences"] == [{"starts_on": "2026-10-01", "ends_on": "2026-10-06", "kind": "sick"}]
    again = await staff_api.post("/v1/staff/cw-b2/absences/end", json=back, headers=as_("cw-b2:caseworker"))
    assert (again.status_code, again.json()["title"]) == (409, "Conflict")
    nobody = await staff_api.post(
        "/v1/staff/nobody/absences/end", json=back, headers=as_("head:head_of_unit")
    )
    assert nobody.status_code == 404
    bad = await staff_api.post("/v1/staff/cw-b2/absences/end", json={"back_on": "soon"}, headers=MANAGER)
    assert bad.status_code == 422
