"""`GET /v1/outcome-report` on the fakes: the head of unit's only (403 for a manager, for a
head-of-unit token of someone else), 422 with the field's path for bad dates, and the agreed
JSON shape with figures computed from the stored cases and absences."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.assignment import api
from services.assignment.domain.workload import Absence
from shared.http import add_problem_handlers
from tests.assignment_support import Fakes, local, new_assignment
from tests.unit.test_assignment_api import authenticate

NOW = local(2026, 10, 5, 10, 0)
HEAD = {"authorization": "Bearer head:head_of_unit"}
URL = "/v1/outcome-report"


@pytest.fixture
async def client() -> Any:
    fakes = Fakes(NOW)
    app = FastAPI()
    add_problem_handlers(app)
    for router in api.ROUTERS:
        app.include_router(router)
    app.state.assignment = api.AssignmentApi(fakes.unit, fakes.uow, fakes.clock, authenticate)
    api.add_domain_problem_handlers(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as c:
        c.fakes = fakes  # type: ignore[attr-defined]
        yield c


@pytest.mark.parametrize("token", ["mgr-a:manager", "cw-a1:caseworker", "someone:head_of_unit"])
async def test_only_the_head_of_this_unit_reads_the_report(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get(
        URL, params={"from": "2026-01-01", "to": "2026-06-30"}, headers={"authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403


async def test_no_token_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get(URL, params={"from": "2026-01-01", "to": "2026-06-30"})).status_code == 401


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"from": "2026-13-01", "to": "2026-06-30"}, ["query", "from"]),
        ({"to": "2026-06-30"}, ["query", "from"]),
        ({"from": "0001-01-01", "to": "0001-02-01"}, ["query", "from"]),
        ({"from": "9999-12-01", "to": "9999-12-31"}, ["query", "from"]),
        ({"from": "2026-06-30", "to": "2026-01-01"}, ["query", "to"]),
        ({"from": "2022-01-01", "to": "2026-01-01"}, ["query", "to"]),
        ({"from": "2026-01-01", "to": "2026-06-30", "change_date": "2027-01-01"}, ["query", "change_date"]),
    ],
)
async def test_bad_dates_are_422_naming_the_field(
    client: httpx.AsyncClient, params: dict[str, str], loc: list[str]
) -> None:
    response = await client.get(URL, params=params, headers=HEAD)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert loc in [e["loc"] for e in response.json()["errors"]]


async def test_the_report_has_the_agreed_shape_and_reads_the_stored_records(
    client: httpx.AsyncClient,
) -> None:
    fakes: Fakes = client.fakes  # type: ignore[attr-defined]
    # One investigation opened on 2 March, closed on 1 May: 60 days; a sick week in April.
    a = new_assignment("r-1", "cw-a1", received_at=local(2026, 2, 20, 10, 0))
    async with fakes.uow() as u:
        await u.assignments.add([a])
        case = await u.cases.get("r-1")
        closed = dataclasses.replace(
            case,
            decided_at=local(2026, 3, 2, 10, 0),
            decision="investigate",
            investigation_opened_on=date(2026, 3, 2),
            status="closed",
            closed_at=local(2026, 5, 1, 10, 0),
        )
        await u.cases.save(case, closed)
        await u.absences.add(Absence("cw-a1", date(2026, 4, 6), date(2026, 4, 12), "sick"), "mgr-a")
        await u.commit()
    params = {"from": "2026-01-01", "to": "2026-06-30", "change_date": "2026-04-01"}
    response = await client.get(URL, params=params, headers=HEAD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from"], body["to"], body["change_date"]) == ("2026-01-01", "2026-06-30", "2026-04-01")
    assert body["generated_at"].startswith("2026-10-05T")
    measures = {m["id"]: m for m in body["measures"]}
    lead = measures["investigation_lead_time_median"]
    assert set(lead) == {"id", "title_sv", "title_en", "unit", "monthly", "before", "after", "whole"}
    assert lead["unit"] == "days" and (lead["before"], lead["after"], lead["whole"]) == (None, 60.0, 60.0)
    may = [v for v in lead["monthly"] if v["month"] == "2026-05"]
    assert {"month": "2026-05", "team": None, "value": 60.0} in may
    assert {"month": "2026-05", "team": "team-a", "value": 60.0} in may
    sick = measures["sick_leave_days_per_fte"]
    april = next(v["value"] for v in sick["monthly"] if v["month"] == "2026-04" and v["team"] is None)
    assert april is not None and april > 0
    assert next(v["value"] for v in sick["monthly"] if v["month"] == "2026-03" and v["team"] is None) == 0.0
    assert len({m["month"] for m in lead["monthly"]}) == 6
    assert "cw-a1" not in response.text and "r-1" not in response.text  # teams and figures only
