"""The dossier endpoints' edge on the in-memory fakes: each refusal and failure as problem
details, and nothing of the dossier in any of them."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.security import HTTPAuthorizationCredentials

from services.intake import api_dossier
from services.intake.adapters.memory import InMemoryIntakeUnitOfWork, IntakeTables
from services.intake.ports import AccessLogUnavailable
from shared.http import ApiProblem, SecurityHeaders, add_problem_handlers
from shared.staff_auth import Principal
from tests.dossier_support import FakeAssignment, dossiers, form, project, store_referral
from tests.intake_fakes import NOW


async def authenticate(credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """Tokens here are `<staff id>:<role>,<role>`."""
    if credentials is None:
        raise ApiProblem(401, "Unauthorized")
    sub, roles = credentials.credentials.split(":")
    return Principal(sub, frozenset(roles.split(",")))


class FailingLog(InMemoryIntakeUnitOfWork):
    @property
    def access_log(self) -> Any:
        class Broken:
            async def append(self, entry: Any) -> Any:
                raise AccessLogUnavailable("UndefinedTableError")

        return Broken()


def as_(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "x-request-id": "req-42"}


@pytest.fixture
async def edge() -> Any:
    tables = IntakeTables()
    body = form(protected=True)
    [rid] = await store_referral(lambda: InMemoryIntakeUnitOfWork(tables), body)
    await project(lambda: InMemoryIntakeUnitOfWork(tables), rid)
    assignment = FakeAssignment()

    def client(uow: Any = InMemoryIntakeUnitOfWork) -> httpx.AsyncClient:
        app = FastAPI()
        app.add_middleware(SecurityHeaders)
        add_problem_handlers(app)
        app.include_router(api_dossier.router)
        app.state.dossier = api_dossier.DossierApi(dossiers(lambda: uow(tables), assignment), authenticate)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake")

    return client, tables, rid, body, assignment


def no_details(response: httpx.Response, body: dict[str, Any]) -> bool:
    return all(v not in response.text for v in (body["children"][0]["name"], body["concern"]["description"]))


async def test_the_assigned_caseworker_gets_the_dossier_and_the_request_id_is_logged(edge):
    client, tables, rid, body, _ = edge
    async with client() as http:
        answer = await http.get(f"/v1/referrals/{rid}/dossier", headers=as_("cw-a5:caseworker"))
    assert answer.status_code == 200
    assert answer.json()["child"]["name"] == body["children"][0]["name"]
    assert answer.json()["masked"] == ["child.school", "concern.child_location", "reporter.organisation"]
    assert answer.headers["cache-control"] == "no-store"
    assert tables.access_log[-1].entry.request_id == "req-42"


async def test_no_token_is_401_and_no_relation_403_as_problem_details_without_the_dossier(edge):
    client, tables, rid, body, _ = edge
    async with client() as http:
        anonymous = await http.get(f"/v1/referrals/{rid}/dossier")
        stranger = await http.get(f"/v1/referrals/{rid}/dossier", headers=as_("cw-b1:caseworker"))
    assert anonymous.status_code == 401 and len(tables.access_log) == 1  # the 403 only
    assert stranger.status_code == 403
    assert stranger.headers["content-type"] == "application/problem+json"
    assert no_details(stranger, body)


async def test_a_log_that_cannot_be_written_is_503_with_retry_after_and_no_data(edge):
    client, _, rid, body, _ = edge
    async with client(FailingLog) as http:
        read = await http.get(f"/v1/referrals/{rid}/dossier", headers=as_("head:head_of_unit"))
        reveal = await http.post(
            f"/v1/referrals/{rid}/reveal",
            json={"reason": "Behöver adressen"},
            headers=as_("head:head_of_unit"),
        )
    for answer in (read, reveal):
        assert answer.status_code == 503 and answer.headers["retry-after"]
        assert answer.headers["content-type"] == "application/problem+json"
        assert no_details(answer, body) and body["children"][0]["school"] not in answer.text


async def test_an_unreachable_assignment_is_503_for_one_it_might_admit(edge):
    client, tables, rid, body, assignment = edge
    assignment.unreachable = True
    async with client() as http:
        answer = await http.get(f"/v1/referrals/{rid}/dossier", headers=as_("cw-a2:caseworker"))
    assert answer.status_code == 503 and answer.headers["retry-after"] and no_details(answer, body)
    assert tables.access_log[-1].entry.outcome.value == "denied"


async def test_reasons_and_case_numbers_are_validated(edge):
    client, tables, rid, _, _ = edge
    async with client() as http:
        short = await http.post(
            f"/v1/referrals/{rid}/break-glass", json={"reason": "nu"}, headers=as_("cw-b1:caseworker")
        )
        long = await http.post(
            f"/v1/referrals/{rid}/reveal", json={"reason": "x" * 501}, headers=as_("cw-a5:caseworker")
        )
        bad = await http.post(
            f"/v1/referrals/{rid}/registration",
            json={"system_case_number": "a;DROP", "registered_at": NOW.isoformat()},
            headers=as_("in-1:intake"),
        )
        naive = await http.post(
            f"/v1/referrals/{rid}/registration",
            json={"system_case_number": "BoU 1", "registered_at": "2026-11-22T12:00:00"},
            headers=as_("in-1:intake"),
        )
    assert (short.status_code, long.status_code, bad.status_code, naive.status_code) == (422, 422, 422, 422)
    assert tables.grants == []


async def test_break_glass_is_201_with_the_expiry_and_registration_409_for_another_number(edge):
    client, _, rid, _, _ = edge
    register = f"/v1/referrals/{rid}/registration"
    async with client() as http:
        glass = await http.post(
            f"/v1/referrals/{rid}/break-glass",
            json={"reason": "Jouren behöver läsa"},
            headers=as_("cw-b1:caseworker"),
        )
        first = await http.post(
            register,
            json={"system_case_number": "BoU 1", "registered_at": NOW.isoformat()},
            headers=as_("in-1:intake"),
        )
        other = await http.post(
            register,
            json={"system_case_number": "BoU 2", "registered_at": NOW.isoformat()},
            headers=as_("in-1:intake"),
        )
    assert glass.status_code == 201 and glass.json()["expires_at"]
    assert first.status_code == 200 and first.json()["system_case_number"] == "BoU 1"
    assert other.status_code == 409 and other.headers["content-type"] == "application/problem+json"


async def test_without_a_token_every_endpoint_is_401_before_its_path_or_body_is_looked_at(edge):
    client, tables, rid, _, _ = edge
    bad_id = "R-" + "x" * 200  # longer than a referral id may be
    async with client() as http:
        answers = [
            await http.get(f"/v1/referrals/{bad_id}/dossier"),
            await http.get(f"/v1/referrals/{bad_id}/dossier.pdf"),
            await http.post(f"/v1/referrals/{rid}/reveal", json={"reason": "x"}),
            await http.post(f"/v1/referrals/{rid}/break-glass", json=[1]),
            await http.post(f"/v1/referrals/{bad_id}/registration", json={"system_case_number": ";"}),
        ]
    assert [a.status_code for a in answers] == [401] * 5
    assert len(tables.access_log) == 0


async def test_a_body_that_is_not_json_is_401_without_a_token_and_400_with_one(edge):
    client, tables, rid, _, _ = edge
    path, raw = (
        f"/v1/referrals/{rid}/reveal",
        {"content": b"\xff{", "headers": {"content-type": "application/json"}},
    )
    async with client() as http:
        anonymous = await http.post(path, **raw)
        with_token = await http.post(
            path, content=raw["content"], headers={**raw["headers"], **as_("cw-a5:caseworker")}
        )
    assert anonymous.status_code == 401
    assert with_token.status_code == 400 and with_token.headers["content-type"] == "application/problem+json"
    assert len(tables.access_log) == 0


@pytest.mark.parametrize("reason", ["Behöver läsa\x00 nu", "Behöver läsa \udb99 nu", "Behöver\x1b[31m läsa"])
async def test_a_reason_the_log_cannot_store_or_print_is_422(edge, reason):
    client, tables, rid, _, _ = edge
    raw = json.dumps({"reason": reason}).encode()  # JSON escapes what UTF-8 cannot hold
    async with client() as http:
        answer = await http.post(
            f"/v1/referrals/{rid}/reveal", content=raw,
            headers={**as_("cw-a5:caseworker"), "content-type": "application/json"},
        )  # fmt: skip
    assert answer.status_code == 422, answer.text
    assert len(tables.access_log) == 0
