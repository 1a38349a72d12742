"""Outbox, inbox and dead letters against real Postgres and a real Kafka-protocol broker."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import asyncpg
import pytest

from services.metrics.main import MetricsSettings, create_app
from shared import db
from shared.db import lock_id
from shared.events import TOPIC_RECEIVED, encode_event, outbox_row
from shared.kafka import ProducerSender, ensure_topics, make_producer
from shared.outbox import OutboxRelay, PostgresOutbox
from shared.settings import DatabaseSettings, KafkaSettings, OutboxSettings
from tests.helpers import eventually, produce, read_topic
from tests.wire import received_event


@pytest.fixture
def kafka_settings(kafka_broker, topic_prefix) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=kafka_broker.bootstrap,
        flavour=kafka_broker.flavour,
        topic_prefix=topic_prefix,
        partitions=2,
        session_timeout_ms=kafka_broker.session_timeout_ms,
    )


async def test_outbox_rows_are_published_in_order_after_commit_and_never_when_rolled_back(
    database_url, kafka_settings
):
    database = DatabaseSettings(url=database_url)
    pool = await db.create_pool(database, "intake")
    await db.apply_migrations(pool, "intake", "services.intake.migrations")
    await ensure_topics(kafka_settings, [TOPIC_RECEIVED])
    committed = [received_event(f"R-{i}") for i in range(5)]
    async with pool.acquire() as conn, conn.transaction():
        for event in committed:
            await PostgresOutbox(conn).add([outbox_row(TOPIC_RECEIVED, event)])
    with contextlib.suppress(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            await PostgresOutbox(conn).add([outbox_row(TOPIC_RECEIVED, received_event("R-rolled-back"))])
            raise RuntimeError("the caller's transaction fails")
    producer = make_producer(kafka_settings, client_id="test-relay")
    await producer.start()
    relay = OutboxRelay(
        pool,
        ProducerSender(producer),
        OutboxSettings(poll_interval_s=0.2),
        schema="intake",
        service="test",
        topic_name=kafka_settings.topic,
        connect=lambda: db.connect(database, "intake"),
    )
    task = asyncio.create_task(relay.run())
    try:
        records = await read_topic(
            kafka_settings.bootstrap_servers, kafka_settings.topic(TOPIC_RECEIVED), expect=5
        )
        backlog = await eventually(
            lambda: pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"), lambda n: n == 0
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await producer.stop()
        await pool.close()
    ids = [value["data"]["referral_id"] for _, value, _, _ in records]
    assert ids == [f"R-{i}" for i in range(5)]  # one family key: one partition, in order
    assert {key for key, *_ in records} == {b"fam1"}
    assert backlog == 0


async def test_only_the_relay_holding_the_schema_lock_publishes(database_url, kafka_settings):
    database = DatabaseSettings(url=database_url)
    pool = await db.create_pool(database, "intake")
    await db.apply_migrations(pool, "intake", "services.intake.migrations")
    await ensure_topics(kafka_settings, [TOPIC_RECEIVED])
    async with pool.acquire() as conn, conn.transaction():
        for i in range(3):
            await PostgresOutbox(conn).add([outbox_row(TOPIC_RECEIVED, received_event(f"R-{i}"))])
    producer = make_producer(kafka_settings, client_id="test-relay")
    await producer.start()
    relay = OutboxRelay(
        pool,
        ProducerSender(producer),
        OutboxSettings(),
        schema="intake",
        service="test",
        topic_name=kafka_settings.topic,
        connect=lambda: db.connect(database, "intake"),
    )
    other = await db.connect(database, "intake")  # another instance's relay, mid-round
    try:
        async with other.transaction():
            await other.execute("SELECT pg_advisory_xact_lock($1)", lock_id("outbox:intake"))
            assert await relay.publish_once() == 0
            assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 3
        assert await relay.publish_once() == 3
        held = await other.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
    finally:
        await other.close()
        await producer.stop()
        await pool.close()
    assert held == 0  # the relay's lock ended with its transaction
    records = await read_topic(
        kafka_settings.bootstrap_servers, kafka_settings.topic(TOPIC_RECEIVED), expect=3
    )
    assert [value["data"]["referral_id"] for _, value, _, _ in records] == ["R-0", "R-1", "R-2"]


@pytest.fixture
async def metrics_service(database_url, kafka_settings):
    settings = MetricsSettings(kafka=kafka_settings, database=DatabaseSettings(url=database_url))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        pool = await asyncpg.connect(database_url, server_settings={"search_path": "metrics"})
        try:
            yield pool
        finally:
            await pool.close()


async def test_a_malformed_message_is_dead_lettered_and_the_consumer_goes_on(metrics_service, kafka_settings):
    topic = kafka_settings.topic(TOPIC_RECEIVED)
    good = received_event("R-after-poison", family_key="famX")
    await produce(
        kafka_settings.bootstrap_servers,
        topic,
        [(b"famX", b'{"not": "an event"}'), (b"famX", encode_event(good))],
    )
    await eventually(
        lambda: metrics_service.fetchval(
            "SELECT count(*) FROM received WHERE referral_id = 'R-after-poison'"
        ),
        lambda n: n == 1,
    )
    letters = await read_topic(
        kafka_settings.bootstrap_servers, kafka_settings.topic("deadletter.v1"), expect=1
    )
    assert len(letters) == 1
    letter = letters[0][1]
    assert letter["event_type"] == "deadletter"
    assert letter["data"]["topic"] == TOPIC_RECEIVED and letter["data"]["consumer"] == "metrics"
    assert "unknown event_type" in letter["data"]["error"]
    assert "not" not in letter["data"]  # no copy of the payload


async def test_the_same_event_delivered_twice_is_handled_once(metrics_service, kafka_settings):
    event = received_event(f"R-{uuid.uuid4().hex[:8]}")
    raw = encode_event(event)
    topic = kafka_settings.topic(TOPIC_RECEIVED)
    await produce(kafka_settings.bootstrap_servers, topic, [(b"fam1", raw), (b"fam1", raw)])
    marker = received_event("R-marker")
    await produce(kafka_settings.bootstrap_servers, topic, [(b"fam1", encode_event(marker))])
    await eventually(
        lambda: metrics_service.fetchval("SELECT count(*) FROM received WHERE referral_id = 'R-marker'"),
        lambda n: n == 1,
    )
    handled = await metrics_service.fetchval(
        "SELECT count(*) FROM inbox WHERE message_id = $1", str(event.event_id)
    )
    assert handled == 1
    assert await metrics_service.fetchval("SELECT count(*) FROM received") == 2
