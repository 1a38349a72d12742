"""What `GET /v1/access-log` and the monthly review rely on from `AccessLogStore.query` and
`between` (services/intake/ports.py): every filter holds at once, `teams` keeps the rows of those
teams' referrals, `start` is inclusive and `end` exclusive, pages go by `after_seq` in chain order.

Run against intake's in-memory fake and Postgres. A referral's team is the access projection's
(the `referral.assigned` events intake consumes), so the tests put referrals in teams through it.
Each step is its own committed unit of work, as the edge and the review use them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from services.intake.adapters.memory import InMemoryIntakeUnitOfWork, IntakeTables
from services.intake.adapters.postgres import PostgresIntakeUnitOfWork
from services.intake.domain.access_log import AccessAction, AccessEntry, AccessRelation, LoggedEntry, Outcome
from services.intake.domain.dossier import Assigned
from services.intake.ports import AccessLogQuery, IntakeUnitOfWork
from tests.conftest import migrated_pool

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Store:
    """The access log as the edge and the review use it: each call its own unit of work."""

    unit_of_work: Callable[[], IntakeUnitOfWork]

    async def put_in_team(self, referral_id: str, team: str) -> None:
        async with self.unit_of_work() as uow:
            await uow.access_projection.assigned([Assigned(referral_id, team, "cw-any", None, None, None)])
            await uow.commit()

    async def append(self, entry: AccessEntry) -> LoggedEntry:
        async with self.unit_of_work() as uow:
            row = await uow.access_log.append(entry)
            await uow.commit()
        return row

    async def query(self, query: AccessLogQuery) -> list[LoggedEntry]:
        async with self.unit_of_work() as uow:
            return await uow.access_log.query(query)

    async def between(self, start: datetime, end: datetime) -> list[LoggedEntry]:
        async with self.unit_of_work() as uow:
            return await uow.access_log.between(start, end)


@dataclass
class Backend:
    store: Store

    async def put_in_team(self, referral_id: str, team: str) -> None:
        await self.store.put_in_team(referral_id, team)


@pytest.fixture(params=["memory", "postgres"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        tables = IntakeTables()
        yield Backend(Store(lambda: InMemoryIntakeUnitOfWork(tables)))
        return
    server = request.getfixturevalue("postgres_server")
    async with migrated_pool(server, "services.intake.migrations", schema="intake") as pool:
        yield Backend(Store(lambda: PostgresIntakeUnitOfWork(pool)))


def entry(minute: int, staff: str, referral: str, child_key: str | None = "ck-1") -> AccessEntry:
    return AccessEntry(
        at=T0 + timedelta(minutes=minute), staff=staff, role="caseworker", relation=AccessRelation.ASSIGNED,
        referral_id=referral, child_key=child_key, action=AccessAction.READ, reason=None,
        outcome=Outcome.ALLOWED, client_addr=None, request_id=None,
    )  # fmt: skip


async def seeded(backend: Backend) -> list[int]:
    await backend.put_in_team("R-A", "team-a")
    await backend.put_in_team("R-B", "team-b")
    rows = [
        entry(0, "cw-a1", "R-A"),
        entry(1, "cw-b1", "R-B", "ck-2"),
        entry(2, "cw-a1", "R-B", "ck-2"),
        entry(3, "cw-x", "R-UNKNOWN", None),  # a refused attempt at a referral intake never had
        entry(4, "cw-a1", "R-A"),
    ]
    return [(await backend.store.append(e)).seq for e in rows]


async def minutes(backend: Backend, **filters: object) -> list[int]:
    found = await backend.store.query(AccessLogQuery(**filters))  # type: ignore[arg-type]
    return [int((r.entry.at - T0).total_seconds() // 60) for r in found]


async def test_every_filter_holds_at_once(backend: Backend) -> None:
    await seeded(backend)
    assert await minutes(backend) == [0, 1, 2, 3, 4]
    assert await minutes(backend, staff="cw-a1") == [0, 2, 4]
    assert await minutes(backend, staff="cw-a1", referral_id="R-B") == [2]
    assert await minutes(backend, child_key="ck-2") == [1, 2]
    assert await minutes(backend, staff="cw-b1", child_key="ck-1") == []


async def test_teams_keep_the_rows_of_those_teams_referrals_only(backend: Backend) -> None:
    await seeded(backend)
    assert await minutes(backend, teams=frozenset({"team-a"})) == [0, 4]
    assert await minutes(backend, teams=frozenset({"team-a", "team-b"})) == [0, 1, 2, 4]
    assert await minutes(backend, teams=frozenset()) == []
    assert await minutes(backend, teams=frozenset({"team-b"}), staff="cw-a1") == [2]


async def test_start_is_inclusive_and_end_exclusive(backend: Backend) -> None:
    await seeded(backend)
    window = {"start": T0 + timedelta(minutes=1), "end": T0 + timedelta(minutes=3)}
    assert await minutes(backend, **window) == [1, 2]
    assert [r.seq for r in await backend.store.between(window["start"], window["end"])] == [
        r.seq
        for r in await backend.store.query(AccessLogQuery(**window))  # type: ignore[arg-type]
    ]


async def test_pages_go_by_seq_in_chain_order(backend: Backend) -> None:
    seqs = await seeded(backend)
    first = await backend.store.query(AccessLogQuery(limit=2))
    rest = await backend.store.query(AccessLogQuery(after_seq=first[-1].seq, limit=10))
    assert [r.seq for r in first + rest] == seqs == sorted(seqs)
    assert await backend.store.query(AccessLogQuery(after_seq=seqs[-1])) == []


async def test_a_page_of_a_filtered_query_counts_only_matching_rows(backend: Backend) -> None:
    await seeded(backend)
    first = await backend.store.query(AccessLogQuery(staff="cw-a1", limit=2))
    rest = await backend.store.query(AccessLogQuery(staff="cw-a1", after_seq=first[-1].seq, limit=2))
    assert [r.entry.referral_id for r in first] == ["R-A", "R-B"]
    assert [r.entry.referral_id for r in rest] == ["R-A"]
