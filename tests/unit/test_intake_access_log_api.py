"""`GET /v1/access-log` at the edge (services/intake/api_access_log.py) over intake's fake tables:
who sees which rows, the filters, the cursor, and problem details for bad parameters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.security import HTTPAuthorizationCredentials

from services.intake import api_access_log
from services.intake.adapters.memory import InMemoryIntakeUnitOfWork, IntakeTables
from services.intake.domain.access_log import AccessAction, AccessEntry, AccessRelation, Outcome
from services.intake.domain.access_review import SentReview
from services.intake.domain.dossier import Assigned
from shared.http import ApiProblem, add_problem_handlers
from shared.staff_auth import Principal
from shared.unit_config import load_unit_config

UNIT = load_unit_config(Path(__file__).resolve().parents[2] / "deploy/config/unit.example.yaml")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
TEAM_OF = {"R-A1": "team-a", "R-A2": "team-a", "R-B1": "team-b", "R-C1": "team-c"}


async def authenticate(credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """Tokens here are `<staff id>:<role>,<role>`."""
    if credentials is None:
        raise ApiProblem(401, "Unauthorized")
    sub, roles = credentials.credentials.split(":")
    return Principal(sub, frozenset(roles.split(",")))


def entry(n: int, staff: str, referral: str, **kw: Any) -> AccessEntry:
    fields: dict[str, Any] = {
        "at": T0 + timedelta(minutes=n), "staff": staff, "role": "caseworker",
        "relation": AccessRelation.ASSIGNED, "referral_id": referral, "child_key": f"ck-{referral}",
        "action": AccessAction.READ, "reason": None, "outcome": Outcome.ALLOWED,
        "client_addr": "10.0.0.7", "request_id": f"req-{n}",
    }  # fmt: skip
    fields.update(kw)
    return AccessEntry(**fields)


SEED = [
    entry(0, "cw-a1", "R-A1"),
    entry(1, "cw-a2", "R-A2", action=AccessAction.EXPORT),
    entry(2, "cw-b1", "R-B1"),
    entry(3, "cw-c1", "R-A1", action=AccessAction.DENIED, relation=AccessRelation.NONE,
          outcome=Outcome.DENIED),
    entry(4, "cw-b2", "R-C1", action=AccessAction.BREAK_GLASS, relation=AccessRelation.BREAK_GLASS,
          reason="Akut skyddsbedömning, ansvarig handläggare nås inte"),
    entry(5, "in-1", "R-B1", relation=AccessRelation.INTAKE, role="intake"),
    entry(6, "cw-a1", "R-A1", action=AccessAction.ATTACHMENT),
]  # fmt: skip


async def logged(entries: list[AccessEntry], team_of: dict[str, str] | None = None) -> IntakeTables:
    """Intake's fake tables with the referrals in their teams (the access projection) and the rows."""
    tables = IntakeTables()
    async with InMemoryIntakeUnitOfWork(tables) as uow:
        await uow.access_projection.assigned(
            [Assigned(r, team, f"cw-{r}", None, None, None) for r, team in (team_of or {}).items()]
        )
        for e in entries:
            await uow.access_log.append(e)
        await uow.commit()
    return tables


async def client_for(tables: IntakeTables) -> httpx.AsyncClient:
    app = FastAPI()
    add_problem_handlers(app)
    app.include_router(api_access_log.router)
    readers = api_access_log.readers_from_unit(UNIT)
    uow = lambda: InMemoryIntakeUnitOfWork(tables)  # noqa: E731
    app.state.access_log = api_access_log.AccessLogApi(uow, readers, authenticate)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(await logged(SEED, TEAM_OF)) as c:
        yield c


def as_(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


HEAD, MGR_A = as_("head:head_of_unit"), as_("mgr-a:manager")


async def rows(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    answer = await client.get("/v1/access-log", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["rows"]
    return found


async def test_the_head_of_unit_sees_every_row_with_every_field(client: httpx.AsyncClient) -> None:
    answer = await client.get("/v1/access-log", headers=HEAD)

    assert answer.status_code == 200
    body = answer.json()
    assert body["next_cursor"] is None
    assert [r["request_id"] for r in body["rows"]] == [f"req-{n}" for n in range(7)]
    glass = body["rows"][4]
    assert glass == {
        "at": "2026-11-02T09:04:00+00:00", "staff": "cw-b2", "role": "caseworker",
        "relation": "break_glass", "referral_id": "R-C1", "child_key": "ck-R-C1", "action": "break_glass",
        "reason": "Akut skyddsbedömning, ansvarig handläggare nås inte", "outcome": "allowed",
        "client_addr": "10.0.0.7", "request_id": "req-4", "hash": glass["hash"],
    }  # fmt: skip
    assert len(bytes.fromhex(glass["hash"])) == 32


async def test_a_manager_sees_only_rows_of_their_own_teams_referrals(client: httpx.AsyncClient) -> None:
    found = await rows(client, MGR_A)
    assert [(r["staff"], r["referral_id"]) for r in found] == [
        ("cw-a1", "R-A1"),
        ("cw-a2", "R-A2"),
        ("cw-c1", "R-A1"),
        ("cw-a1", "R-A1"),
    ]
    assert [r["referral_id"] for r in await rows(client, as_("mgr-b:manager"))] == ["R-B1", "R-B1"]
    # A manager's filter narrows within their teams; it never widens them.
    assert await rows(client, MGR_A, referral="R-B1") == []


@pytest.mark.parametrize(
    ("token", "status"),
    [
        (None, 401),
        ("cw-a1:caseworker", 403),
        ("in-1:intake", 403),
        ("cw-a1:manager", 403),  # the role, but no team of theirs in the unit file
        ("mgr-a:caseworker", 403),  # a team's manager, but not acting as one
        ("mgr-a:head_of_unit", 403),  # the role, but not the unit's head
        ("head:manager", 403),
    ],
)
async def test_only_the_head_of_unit_and_team_managers_read_the_log(
    client: httpx.AsyncClient, token: str | None, status: int
) -> None:
    answer = await client.get("/v1/access-log", headers=as_(token) if token else {})
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    assert "rows" not in answer.json()


async def test_a_refused_caller_is_refused_before_their_parameters_are_looked_at(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get("/v1/access-log", params={"limit": 0}, headers=as_("cw-a1:caseworker"))
    assert answer.status_code == 403


async def test_rows_are_filtered_by_staff_referral_child_key_and_time(client: httpx.AsyncClient) -> None:
    assert [r["request_id"] for r in await rows(client, HEAD, staff="cw-a1")] == ["req-0", "req-6"]
    assert [r["request_id"] for r in await rows(client, HEAD, referral="R-B1")] == ["req-2", "req-5"]
    assert [r["request_id"] for r in await rows(client, HEAD, child_key="ck-R-A2")] == ["req-1"]
    window = {"from": "2026-11-02T10:02:00+01:00", "to": "2026-11-02T09:04:00Z"}
    assert [r["request_id"] for r in await rows(client, HEAD, **window)] == ["req-2", "req-3"]


async def test_pages_follow_the_cursor_to_the_end(client: httpx.AsyncClient) -> None:
    seen, cursor = [], None
    for _ in range(10):
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        body = (await client.get("/v1/access-log", params=params, headers=HEAD)).json()
        seen += [r["request_id"] for r in body["rows"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"req-{n}" for n in range(7)]
    assert "3" not in (api_access_log.encode_cursor(3))  # opaque, not the bare number


async def test_a_page_holds_a_hundred_rows_unless_asked_for_up_to_five_hundred() -> None:
    tables = await logged([entry(n, "cw-a1", "R-A1") for n in range(620)])
    async with await client_for(tables) as client:
        first = (await client.get("/v1/access-log", headers=HEAD)).json()
        most = (await client.get("/v1/access-log", params={"limit": 500}, headers=HEAD)).json()

    assert len(first["rows"]) == 100
    assert first["next_cursor"] is not None
    assert len(most["rows"]) == 500


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 501}, ["query", "limit"]),
        ({"limit": "many"}, ["query", "limit"]),
        ({"from": "2026-11-02T09:00:00"}, ["query", "from"]),  # no UTC offset
        ({"to": "yesterday"}, ["query", "to"]),
        ({"from": "2026-11-02T09:00:00Z", "to": "2026-11-02T09:00:00Z"}, ["query", "to"]),
        ({"cursor": "not-a-cursor"}, ["query", "cursor"]),
        ({"cursor": api_access_log.encode_cursor(1)[:-1] + "!"}, ["query", "cursor"]),
        ({"staff": "Anna Andersson"}, ["query", "staff"]),
        ({"referral": "R 1; DROP"}, ["query", "referral"]),
    ],
)
async def test_bad_parameters_are_problem_details_naming_the_parameter(
    client: httpx.AsyncClient, params: dict[str, Any], loc: list[str]
) -> None:
    answer = await client.get("/v1/access-log", params=params, headers=HEAD)

    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert loc in [e["loc"] for e in body["errors"]]
    assert "Anna" not in answer.text  # the value is never echoed


async def test_the_route_is_described_with_its_parameters_and_problems(client: httpx.AsyncClient) -> None:
    app = FastAPI()
    app.include_router(api_access_log.router)
    operation = app.openapi()["paths"]["/v1/access-log"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert names == {"staff", "referral", "child_key", "from", "to", "cursor", "limit"}
    assert {"401", "403", "422", "503"} <= set(operation["responses"])


# --- GET /v1/access-reviews: the monthly reviews sent, for the head of unit ------------------------

KINDS_COUNTED = {
    "break_glass": 0, "denied": 2, "outside_assignments": 1, "outside_office_hours": 0, "unusual_volume": 0,
}  # fmt: skip


def sent_reviews(months: list[str]) -> IntakeTables:
    tables = IntakeTables()
    for n, month in enumerate(months):
        tables.access_reviews[month] = SentReview(
            month, T0 + timedelta(days=n), 100 + n, KINDS_COUNTED, 10 + n, f"{n:02x}" * 32
        )
    tables.access_reviews["2025-06"] = SentReview("2025-06", T0 - timedelta(days=200))  # before figures
    return tables


async def test_the_head_of_unit_lists_the_monthly_reviews_latest_first_a_page_at_a_time() -> None:
    async with await client_for(sent_reviews(["2025-09", "2025-11", "2025-10"])) as client:
        first = (await client.get("/v1/access-reviews", params={"limit": 2}, headers=HEAD)).json()
        assert [r["month"] for r in first["reviews"]] == ["2025-11", "2025-10"]
        assert first["reviews"][0] == {
            "month": "2025-11", "sent_at": (T0 + timedelta(days=1)).isoformat(), "entries": 101,
            "findings": KINDS_COUNTED, "chain_seq": 11, "chain_hash": "01" * 32,
        }  # fmt: skip
        rest = await client.get(
            "/v1/access-reviews", params={"limit": 2, "cursor": first["next_cursor"]}, headers=HEAD
        )
    assert [r["month"] for r in rest.json()["reviews"]] == ["2025-09", "2025-06"]
    assert rest.json()["next_cursor"] is None
    assert rest.json()["reviews"][1]["entries"] is rest.json()["reviews"][1]["findings"] is None


@pytest.mark.parametrize(
    ("token", "status"),
    [("mgr-a:manager", 403), ("cw-a1:caseworker", 403), ("in-1:intake", 403), ("head:manager", 403)],
)
async def test_only_the_head_of_unit_reads_the_reviews(token: str, status: int) -> None:
    async with await client_for(sent_reviews(["2025-10"])) as client:
        answer = await client.get("/v1/access-reviews", headers=as_(token))
    assert answer.status_code == status
    assert "2025-10" not in answer.text


@pytest.mark.parametrize("cursor", ["2025-13", "v1:12", "2025-1"])
async def test_a_cursor_that_is_no_month_is_a_422_naming_it(cursor: str) -> None:
    async with await client_for(sent_reviews(["2025-10"])) as client:
        answer = await client.get("/v1/access-reviews", params={"cursor": cursor}, headers=HEAD)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["loc"] == ["query", "cursor"]
