"""The shared ports' contract (shared/ports.py), run against the in-memory fake and Postgres.

What every use case relies on: a unit of work commits everything or nothing; the inbox says
"first time" once per consumer and message; the outbox keeps events in order.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from shared.events import TOPIC_RECEIVED, OutboxRow, outbox_row
from shared.memory import InMemoryUnitOfWork, Tables
from shared.postgres import PostgresUnitOfWork
from tests.conftest import migrated_pool
from tests.wire import received_event


@dataclass
class Backend:
    unit_of_work: Callable[[], Any]
    published: Callable[[], Awaitable[list[uuid.UUID]]]


@pytest.fixture(params=["memory", "postgres"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        tables = Tables()

        async def in_memory() -> list[uuid.UUID]:
            return [row[0] for row in tables.outbox]

        yield Backend(lambda: InMemoryUnitOfWork(tables), in_memory)
        return
    async with migrated_pool(request.getfixturevalue("postgres_server"), "tests.contract") as pool:

        async def in_postgres() -> list[uuid.UUID]:
            return [r["event_id"] for r in await pool.fetch("SELECT event_id FROM outbox ORDER BY id")]

        yield Backend(lambda: PostgresUnitOfWork(pool), in_postgres)


def rows(*referral_ids: str) -> list[OutboxRow]:
    return [outbox_row(TOPIC_RECEIVED, received_event(r)) for r in referral_ids]


async def test_committed_work_is_there_for_the_next_unit_of_work(backend: Backend) -> None:
    events = rows("R-1", "R-2")
    async with backend.unit_of_work() as uow:
        assert await uow.inbox.first_deliveries("c", ["m-1"]) == {"m-1"}
        await uow.outbox.add(events)
        await uow.commit()

    async with backend.unit_of_work() as uow:
        assert await uow.inbox.first_deliveries("c", ["m-1", "m-2"]) == {"m-2"}
    assert await backend.published() == [e[0] for e in events]


async def test_leaving_without_commit_or_with_an_exception_keeps_nothing(backend: Backend) -> None:
    async with backend.unit_of_work() as uow:
        await uow.inbox.first_deliveries("c", ["m-1"])
        await uow.outbox.add(rows("R-1"))

    async def failing_use_case() -> None:
        async with backend.unit_of_work() as uow:
            await uow.inbox.first_deliveries("c", ["m-2"])
            await uow.outbox.add(rows("R-2"))
            raise RuntimeError("the use case failed")

    with pytest.raises(RuntimeError):
        await failing_use_case()

    async with backend.unit_of_work() as uow:
        assert await uow.inbox.first_deliveries("c", ["m-1", "m-2"]) == {"m-1", "m-2"}
    assert await backend.published() == []


async def test_the_inbox_is_per_consumer_and_names_a_repeated_id_once(backend: Backend) -> None:
    async with backend.unit_of_work() as uow:
        assert await uow.inbox.first_deliveries("a", ["m-1", "m-1", "m-2"]) == {"m-1", "m-2"}
        assert await uow.inbox.first_deliveries("b", ["m-1"]) == {"m-1"}
        assert await uow.inbox.first_deliveries("a", ["m-2", "m-3"]) == {"m-3"}
        await uow.commit()


async def test_the_outbox_keeps_events_in_the_order_they_were_added(backend: Backend) -> None:
    first, second = rows("R-1", "R-2"), rows("R-3")
    async with backend.unit_of_work() as uow:
        await uow.outbox.add(first)
        await uow.outbox.add([])
        await uow.outbox.add(second)
        await uow.commit()

    assert await backend.published() == [e[0] for e in [*first, *second]]
