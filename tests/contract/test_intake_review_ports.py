"""The review store (services/intake/ports.py, ReviewStore) in intake's unit of work, against the
in-memory fake and Postgres.

What the monthly review relies on: a month is claimed once, and its event goes to the outbox with
it or not at all; a claim that is not committed leaves nothing; of two instances claiming a month
at once, one gets it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from services.intake.adapters.memory import InMemoryIntakeUnitOfWork, IntakeTables
from services.intake.adapters.postgres import PostgresIntakeUnitOfWork
from services.intake.domain.access_review import SentReview
from shared.events import TOPIC_ACCESS, OutboxRow
from tests.conftest import migrated_pool

SENT_AT = datetime(2026, 2, 2, 7, 0, tzinfo=UTC)


@dataclass
class Backend:
    unit_of_work: Callable[[], Any]
    published: Callable[[], Awaitable[list[uuid.UUID]]]


@pytest.fixture(params=["memory", "postgres"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        tables = IntakeTables()

        async def memory_outbox() -> list[uuid.UUID]:
            return [row[0] for row in tables.outbox]

        yield Backend(lambda: InMemoryIntakeUnitOfWork(tables), memory_outbox)
        return
    server = request.getfixturevalue("postgres_server")
    async with migrated_pool(server, "services.intake.migrations", schema="intake") as pool:

        async def postgres_outbox() -> list[uuid.UUID]:
            return [r["event_id"] for r in await pool.fetch("SELECT event_id FROM outbox ORDER BY id")]

        yield Backend(lambda: PostgresIntakeUnitOfWork(pool), postgres_outbox)


def event(month: str) -> OutboxRow:
    return (
        uuid.uuid5(uuid.NAMESPACE_URL, month),
        TOPIC_ACCESS,
        b"access-review",
        b'{"month": "%s"}' % month.encode(),
    )


def review(month: str, entries: int | None = 12) -> SentReview:
    """The month's review with its figures (None figures: a review sent before they were kept)."""
    if entries is None:
        return SentReview(month, SENT_AT)
    counts = {
        "break_glass": 0,
        "denied": 2,
        "outside_assignments": 1,
        "outside_office_hours": 0,
        "unusual_volume": 0,
    }
    return SentReview(month, SENT_AT, entries, counts, 40, "ab" * 32)


async def claim(backend: Backend, month: str, *, commit: bool = True) -> bool:
    async with backend.unit_of_work() as uow:
        claimed: bool = await uow.reviews.claim(review(month), event(month))
        if commit:
            await uow.commit()
    return claimed


async def sent(backend: Backend, month: str) -> bool:
    async with backend.unit_of_work() as uow:
        found: bool = await uow.reviews.sent(month)
    return found


async def test_a_month_is_claimed_once_and_its_event_goes_out_once(backend: Backend) -> None:
    assert not await sent(backend, "2026-01")

    assert await claim(backend, "2026-01")
    assert not await claim(backend, "2026-01")

    assert await sent(backend, "2026-01")
    assert await backend.published() == [event("2026-01")[0]]


async def test_months_are_claimed_each_on_its_own(backend: Backend) -> None:
    assert await claim(backend, "2026-01")
    assert await claim(backend, "2026-02")
    assert not await sent(backend, "2026-03")
    assert await backend.published() == [event("2026-01")[0], event("2026-02")[0]]


async def test_a_claim_that_is_not_committed_leaves_neither_the_month_nor_its_event(backend: Backend) -> None:
    assert await claim(backend, "2026-01", commit=False)

    assert not await sent(backend, "2026-01")
    assert await backend.published() == []
    assert await claim(backend, "2026-01")


async def test_a_claim_sees_itself_in_its_own_unit_of_work(backend: Backend) -> None:
    async with backend.unit_of_work() as uow:
        assert await uow.reviews.claim(review("2026-01"), event("2026-01"))
        assert await uow.reviews.sent("2026-01")
        assert not await uow.reviews.claim(review("2026-01"), event("2026-01"))


async def test_of_two_instances_claiming_a_month_at_once_one_gets_it(backend: Backend) -> None:
    first_claimed = asyncio.Event()

    async def first() -> bool:
        async with backend.unit_of_work() as uow:
            claimed: bool = await uow.reviews.claim(review("2026-01"), event("2026-01"))
            first_claimed.set()
            await asyncio.sleep(0.05)  # the second claim is waiting on the key meanwhile (Postgres)
            await uow.commit()
        return claimed

    async def second() -> bool:
        await first_claimed.wait()
        return await claim(backend, "2026-01")

    results = await asyncio.wait_for(asyncio.gather(first(), second()), timeout=10)

    assert results == [True, False]
    assert await backend.published() == [event("2026-01")[0]]


async def recent(backend: Backend, before: str | None, limit: int) -> list[SentReview]:
    async with backend.unit_of_work() as uow:
        found: list[SentReview] = await uow.reviews.recent(before, limit)
    return found


async def test_sent_reviews_are_listed_latest_first_with_their_figures_a_page_at_a_time(
    backend: Backend,
) -> None:
    for month in ("2025-11", "2026-01", "2025-12"):
        assert await claim(backend, month)
    async with backend.unit_of_work() as uow:
        assert await uow.reviews.claim(review("2025-10", entries=None), event("2025-10"))
        await uow.commit()
    assert await claim(backend, "2026-02", commit=False)  # rolled back: not listed

    first = await recent(backend, None, 2)
    assert first == [review("2026-01"), review("2025-12")]
    assert [r.month for r in await recent(backend, first[-1].month, 2)] == ["2025-11", "2025-10"]
    assert await recent(backend, "2025-11", 5) == [review("2025-10", entries=None)]
    assert await recent(backend, "2025-10", 5) == []
