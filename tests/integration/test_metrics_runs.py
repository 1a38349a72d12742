"""Metrics runs against Postgres: what a run costs in statements, and the consumer handing its
batches to the projections as runs (tests/contract/test_metrics_ports.py: that a run leaves the
rows of its events one at a time, on the fake and on Postgres)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import pytest

from services.metrics.adapters.postgres import PostgresMetricsUnitOfWork
from services.metrics.ports import MetricsUnitOfWork
from services.metrics.subscribers import TOPICS, projecting
from shared import db
from shared.consumer import EventConsumer
from shared.events import Envelope, encode_event
from shared.records import Record, Subscription
from shared.settings import ConsumerSettings, DatabaseSettings
from tests.metrics_events import (
    METRICS_TABLES,
    Event,
    batch_of_fifty,
    project_each,
    project_runs,
    random_events,
)


class OneConnection:
    """A pool of one connection, so that every statement of a unit of work can be counted."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def acquire(self) -> asyncpg.Connection:
        return self.conn

    async def release(self, conn: asyncpg.Connection) -> None:
        return None


async def dump(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every metrics table, in a stable order."""
    return {
        table: sorted((tuple(r) for r in await conn.fetch(f"SELECT * FROM {table}")), key=repr)
        for table in METRICS_TABLES
    }


async def metrics_schema(database_url: str, schema: str) -> asyncpg.Connection:
    pool = await db.create_pool(DatabaseSettings(url=database_url), schema)
    try:
        await db.apply_migrations(pool, schema, "services.metrics.migrations")
    finally:
        await pool.close()
    conn: asyncpg.Connection = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    return conn


@pytest.fixture
async def schemas(database_url: str) -> AsyncIterator[tuple[asyncpg.Connection, asyncpg.Connection]]:
    """Two metrics schemas in one database: one written event by event, one run by run."""
    each = await metrics_schema(database_url, "metrics_each")
    run = await metrics_schema(database_url, "metrics_run")
    try:
        yield each, run
    finally:
        await each.close()
        await run.close()


def unit_of_work(conn: asyncpg.Connection) -> PostgresMetricsUnitOfWork:
    return PostgresMetricsUnitOfWork(OneConnection(conn))  # type: ignore[arg-type]


async def test_a_batch_of_fifty_events_takes_nine_statements_where_one_event_at_a_time_takes_ninety(schemas):
    """Round trips to Postgres: asyncpg sends one execute or one executemany per round trip
    (statements prepared once per connection, then cached)."""
    each, run = schemas
    events = batch_of_fifty()
    sent: dict[str, int] = {"each": 0, "run": 0}

    def counter(name: str) -> Any:
        def count(_: Any) -> None:
            sent[name] += 1

        return count

    with each.query_logger(counter("each")):
        await project_each(unit_of_work(each), events)
        await asyncio.sleep(0)  # the logger is called soon (call_soon), not at once
    with run.query_logger(counter("run")):
        await project_runs(unit_of_work(run), events)
        await asyncio.sleep(0)

    assert await dump(run) == await dump(each)
    # Per referral, each event a run of one: received 1, assigned 4 (assigned, assignment_events,
    # cases, the two clocks in one), decided 2 (status; the met and investigation clocks in one),
    # approaching 1, notification 1. By runs: one statement per kind of change with rows:
    # 1 + 4 + 2 + 1 (no breach rows) + 1. Both include BEGIN and COMMIT. (Before runs, with a
    # statement per row, it was 10 * (1 + 5 + 3 + 1 + 1) + 2 = 112.)
    assert sent == {"each": 10 * (1 + 4 + 2 + 1 + 1) + 2, "run": (1 + 4 + 2 + 1 + 1) + 2}


async def test_the_consumer_hands_runs_to_the_projections_with_the_same_result(database_url, schemas):
    each, _ = schemas
    pool = await db.create_pool(DatabaseSettings(url=database_url), "metrics")
    await db.apply_migrations(pool, "metrics", "services.metrics.migrations")
    runs: list[int] = []

    def recorded(topic: str) -> Any:
        edge = projecting(TOPICS[topic][1])

        async def run(uow: MetricsUnitOfWork, events: Sequence[Envelope[Any]]) -> None:
            runs.append(len(events))
            await edge(uow, events)

        return run

    def incoming(i: int, event: Event) -> Record:
        topic, envelope = event
        return Record(encode_event(envelope), topic, 0, i)

    events = random_events(random.Random(99), 60)
    subscriptions = {t: Subscription(t, model, recorded(t)) for t, (model, _) in TOPICS.items()}
    consumer = EventConsumer(
        lambda: PostgresMetricsUnitOfWork(pool),
        subscriptions,
        ConsumerSettings(),
        service="metrics",
        consumer="metrics",
    )
    try:
        first = await consumer.handle_batch([incoming(i, e) for i, e in enumerate(events[:20])])
        # A redelivery of handled events and a copy inside the batch are left out of the runs.
        again = [*events[10:20], *events[20:], events[30]]
        second = await consumer.handle_batch([incoming(i, e) for i, e in enumerate(again, 20)])
        async with pool.acquire() as conn:
            got = await dump(conn)
    finally:
        await pool.close()

    assert first == ["handled"] * 20
    assert second == ["duplicate"] * 10 + ["handled"] * 40 + ["duplicate"]
    assert sum(runs) == 60 and max(runs) > 1
    await project_each(unit_of_work(each), events)
    assert got == await dump(each)
