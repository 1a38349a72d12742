"""Batched handling (shared/consumer.py): one transaction per batch, same guarantees as one by one."""

from __future__ import annotations

import asyncpg
import pytest

from shared import db
from shared.consumer import EventConsumer, Incoming, PoisonMessage, TransientFailure
from shared.events import TOPIC_DEADLETTER, TOPIC_RECEIVED, encode_event
from shared.settings import ConsumerSettings, DatabaseSettings
from tests.integration.test_messaging import received_event


@pytest.fixture
async def pool(database_url):
    pool = await db.create_pool(DatabaseSettings(url=database_url), "intake")
    await db.apply_migrations(pool, "intake", "services.intake.migrations")
    await pool.execute("CREATE TABLE handled (seq serial, referral_id text NOT NULL)")
    try:
        yield pool
    finally:
        await pool.close()


def consumer(pool: asyncpg.Pool, budget_s: float = 30.0) -> EventConsumer:
    settings = ConsumerSettings(retry_initial_s=0.05, retry_max_s=0.05, retry_budget_s=budget_s)
    return EventConsumer(pool, settings, service="test", consumer="test")


async def record(conn, event) -> None:
    if event.data.referral_id.startswith("R-poison"):
        raise PoisonMessage("this one can never be handled")
    await conn.execute("INSERT INTO handled (referral_id) VALUES ($1)", event.data.referral_id)


def batch(events, handler=record) -> list[Incoming]:
    return [Incoming(encode_event(e), TOPIC_RECEIVED, 0, i, handler) for i, e in enumerate(events)]


async def handled(pool) -> list[str]:
    return [r["referral_id"] for r in await pool.fetch("SELECT referral_id FROM handled ORDER BY seq")]


async def test_a_batch_is_applied_in_order_once_per_event_even_with_copies_inside_it(pool):
    earlier, a, b = received_event("R-earlier"), received_event("R-a"), received_event("R-b")
    assert await consumer(pool).handle_batch(batch([earlier, received_event("R-x")])) == ["handled"] * 2

    outcomes = await consumer(pool).handle_batch(batch([a, earlier, b, a]))

    assert outcomes == ["handled", "duplicate", "handled", "duplicate"]
    assert await handled(pool) == ["R-earlier", "R-x", "R-a", "R-b"]
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = 'test'") == 4


async def test_a_poison_event_in_a_batch_is_dead_lettered_and_the_others_are_handled(pool):
    events = [received_event("R-1"), received_event("R-poison"), received_event("R-2")]

    outcomes = await consumer(pool).handle_batch(batch(events))

    assert outcomes == ["handled", "deadlettered", "handled"]
    assert await handled(pool) == ["R-1", "R-2"]
    letters = await pool.fetch("SELECT topic FROM outbox WHERE topic = $1", TOPIC_DEADLETTER)
    assert len(letters) == 1


async def test_a_batch_that_keeps_failing_commits_nothing_and_raises(pool):
    calls = 0

    async def flaky(conn, event) -> None:
        nonlocal calls
        calls += 1
        await record(conn, event)
        if event.data.referral_id == "R-last":
            raise asyncpg.SerializationError("the database says: try again")

    with pytest.raises(TransientFailure):
        await consumer(pool, budget_s=0.3).handle_batch(
            batch([received_event("R-first"), received_event("R-last")], flaky)
        )

    assert calls >= 4  # the whole batch was retried
    assert await handled(pool) == []
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 0


async def test_a_run_handler_takes_consecutive_new_events_of_its_topic_and_keeps_batch_order(pool):
    runs: list[list[str]] = []

    async def record_run(conn, events) -> None:
        runs.append([e.data.referral_id for e in events])
        for event in events:
            await record(conn, event)

    def item(event, i: int, topic: str = TOPIC_RECEIVED) -> Incoming:
        return Incoming(
            encode_event(event), topic, 0, i, record, record_run if topic == TOPIC_RECEIVED else None
        )

    seen = received_event("R-seen")
    await consumer(pool).handle_batch([item(seen, 0), item(received_event("R-0"), 1)])
    runs.clear()
    other = f"elsewhere.{TOPIC_RECEIVED}"  # a topic without a run handler: one call per event
    events = [received_event(f"R-{i}") for i in range(1, 6)]
    outcomes = await consumer(pool).handle_batch(
        [item(events[0], 2), item(seen, 3), item(events[1], 4), item(events[2], 5, other),
         item(events[3], 6), item(events[4], 7)]
    )  # fmt: skip

    assert outcomes == ["handled", "duplicate", "handled", "handled", "handled", "handled"]
    assert runs == [["R-1", "R-2"], ["R-4", "R-5"]]  # the copy is left out; the other topic splits
    assert await handled(pool) == ["R-seen", "R-0", "R-1", "R-2", "R-3", "R-4", "R-5"]
