"""What every service's HTTP edge does (shared/runtime.service_app, shared/http.py): security
headers on every response, problem details for every error, API docs only when configured."""

from __future__ import annotations

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from pydantic import BaseModel

from shared.http import ApiProblem
from shared.postgres import PostgresUnitOfWork
from shared.runtime import Runtime, service_app
from shared.settings import HttpSettings, ServiceSettings


class Body(BaseModel):
    name: str


def app(api_docs: bool = False) -> TestClient:
    settings = ServiceSettings(http=HttpSettings(api_docs=api_docs))
    runtime = Runtime(settings, service="edge", migrations="x", topics=(), unit_of_work=PostgresUnitOfWork)
    router = APIRouter()

    @router.post("/v1/things")
    async def things(body: Body) -> dict[str, str]:
        return {"name": body.name}

    @router.get("/v1/forbidden")
    async def forbidden() -> None:
        raise ApiProblem(403, "Forbidden", "not yours")

    @router.get("/v1/broken")
    async def broken() -> None:
        raise OverflowError("date value out of range: 0001-01-01 Test Testsson")

    # The lifespan (database, broker) is not entered: only the edge is under test.
    return TestClient(service_app("edge", runtime, routers=[router]), raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/nowhere", 404),
        ("GET", "/v1/forbidden", 403),
        ("POST", "/v1/things", 422),
        ("GET", "/v1/broken", 500),
    ],
)
def test_every_response_carries_the_security_headers(method: str, path: str, status: int) -> None:
    response = app().request(method, path, json={})

    assert response.status_code == status
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_an_unexpected_error_is_a_problem_that_echoes_nothing() -> None:
    response = app().get("/v1/broken")

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Internal error"
    assert "Testsson" not in response.text and "0001" not in response.text


def test_the_api_docs_are_off_unless_configured() -> None:
    closed, opened = app(), app(api_docs=True)

    for path in ("/docs", "/redoc", "/openapi.json"):
        assert closed.get(path).status_code == 404, path
        assert opened.get(path).status_code == 200, path
    assert "content-security-policy" not in opened.get("/docs").headers  # its scripts must load
    assert "/v1/things" in opened.get("/openapi.json").json()["paths"]
