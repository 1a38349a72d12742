"""Intake reads assignment's own answer to `GET /v1/referrals/{id}` (the real route on assignment's
fakes, so a change of that answer breaks here), and refuses to guess when it cannot."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.security import HTTPAuthorizationCredentials

from services.assignment import api as assignment_api
from services.intake.adapters.assignment_client import AssignmentClient
from services.intake.domain.dossier_access import Assignment
from services.intake.ports import AssignmentUnreachable
from shared.http import ApiProblem, add_problem_handlers
from shared.staff_auth import Principal
from tests.assignment_support import Fakes, local, received

MONDAY = local(2026, 10, 5, 10, 0)


async def authenticate(credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None:
        raise ApiProblem(401, "Unauthorized")
    return Principal(credentials.credentials, frozenset({"caseworker"}))


@pytest.fixture
async def assignment() -> Any:
    fakes = Fakes(MONDAY)
    await fakes.assign(received("R-1", at=MONDAY))
    app = FastAPI()
    add_problem_handlers(app)
    for router in assignment_api.ROUTERS:
        app.include_router(router)
    app.state.assignment = assignment_api.AssignmentApi(fakes.unit, fakes.uow, fakes.clock, authenticate)
    assignment_api.add_domain_problem_handlers(app)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://assignment"
    ) as http:
        yield AssignmentClient(http), fakes


async def test_assignments_answer_becomes_the_referrals_projection(assignment):
    client, fakes = assignment
    case = fakes.case("R-1")

    state = await client.current("R-1", "cw-b2")

    assert state is not None
    assert state.assignment == Assignment(case.team, case.caseworker, case.mentor)
    assert state.status == "assigned" and not state.protection_assessed
    assert state.preliminary_assessment_due == case.preliminary_due
    assert isinstance(state.protection_assessment_due, datetime)


async def test_an_unknown_referral_is_none(assignment):
    client, _ = assignment
    assert await client.current("R-unknown", "cw-b2") is None


async def test_a_server_error_or_no_answer_is_unreachable():
    def failing(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("R-5"):
            return httpx.Response(502)
        raise httpx.ConnectTimeout("no answer", request=request)

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(failing), base_url="http://assignment"
    ) as http:
        client = AssignmentClient(http)
        for referral_id in ("R-5", "R-6"):
            with pytest.raises(AssignmentUnreachable):
                await client.current(referral_id, "token")
