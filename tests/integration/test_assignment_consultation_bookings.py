"""Consultations against real Postgres and a real Kafka-protocol broker (issue 22): twenty
simultaneous bookings through the staff API never share a time, and the booked, cancelled and
reminder events reach `workplace.v1` through the outbox, the reminder once across scans."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.assignment import api
from services.assignment.adapters.postgres import PostgresAssignmentUnitOfWork
from services.assignment.handlers.consultations import emit_consultation_reminders
from shared import db
from shared.clock import FixedClock
from shared.events import TOPIC_WORKPLACE
from shared.http import add_problem_handlers
from shared.kafka import ProducerSender, ensure_topics, make_producer
from shared.outbox import OutboxRelay
from shared.settings import DatabaseSettings, KafkaSettings, OutboxSettings
from tests.assignment_support import UNIT, local
from tests.helpers import eventually, read_topic
from tests.unit.test_assignment_api import authenticate

NOW = local(2026, 10, 5, 10, 0)  # Monday; team-b on duty
TOPIC = "Samråd om ny oro, Storgatan 5"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(DatabaseSettings(url=database_url, max_pool_size=10), "assignment")
    await db.apply_migrations(pool, "assignment", "services.assignment.migrations")
    yield pool
    await pool.close()


@pytest.fixture
async def client(pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    add_problem_handlers(app)
    for router in api.ROUTERS:
        app.include_router(router)
    app.state.assignment = api.AssignmentApi(
        UNIT, lambda: PostgresAssignmentUnitOfWork(pool), FixedClock(NOW), authenticate
    )
    api.add_domain_problem_handlers(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as c:
        yield c


def partner(n: int) -> dict[str, str]:
    return {"authorization": f"Bearer partner-{n}:partner"}


async def test_twenty_simultaneous_bookings_get_twenty_different_times(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    responses = await asyncio.gather(
        *(
            client.post("/v1/consultations", json={"topic": f"Fråga {n}"}, headers=partner(n))
            for n in range(20)
        )
    )
    assert [r.status_code for r in responses] == [201] * 20, [
        r.text for r in responses if r.status_code != 201
    ]
    starts = sorted(datetime.fromisoformat(r.json()["starts_at"]) for r in responses)
    assert len(set(starts)) == 20 and {r.json()["team"] for r in responses} == {"team-b"}
    # The earliest twenty free times, none skipped: Tue 13-15 (4), Thu 9-10 (3), and so on.
    assert starts[:7] == [
        local(2026, 10, 6, 13), local(2026, 10, 6, 13, 30),
        local(2026, 10, 6, 14), local(2026, 10, 6, 14, 30),
        local(2026, 10, 8, 9), local(2026, 10, 8, 9, 20), local(2026, 10, 8, 9, 40),
    ]  # fmt: skip
    rows = await pool.fetch("SELECT team, starts_at, count(*) AS n FROM consultations GROUP BY 1, 2")
    assert len(rows) == 20 and all(r["n"] == 1 for r in rows)
    booked = await pool.fetchval("SELECT count(*) FROM outbox WHERE topic = $1", TOPIC_WORKPLACE)
    assert booked == 20


@pytest.fixture
def kafka_settings(kafka_broker: Any, topic_prefix: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=kafka_broker.bootstrap,
        flavour=kafka_broker.flavour,
        topic_prefix=topic_prefix,
        partitions=2,
    )


@contextlib.asynccontextmanager
async def relaying(pool: asyncpg.Pool, database_url: str, kafka: KafkaSettings) -> AsyncIterator[None]:
    await ensure_topics(kafka, [TOPIC_WORKPLACE])
    producer = make_producer(kafka, client_id="test-relay")
    await producer.start()
    relay = OutboxRelay(
        pool,
        ProducerSender(producer),
        OutboxSettings(poll_interval_s=0.2),
        schema="assignment",
        service="test",
        topic_name=kafka.topic,
        connect=lambda: db.connect(DatabaseSettings(url=database_url), "assignment"),
    )
    task = asyncio.create_task(relay.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await producer.stop()


async def test_booked_reminded_and_cancelled_reach_workplace_through_the_outbox_without_the_topic(
    client: httpx.AsyncClient, pool: asyncpg.Pool, database_url: str, kafka_settings: KafkaSettings
) -> None:
    booked = (await client.post("/v1/consultations", json={"topic": TOPIC}, headers=partner(1))).json()
    starts = datetime.fromisoformat(booked["starts_at"])
    scan_at = starts - timedelta(hours=20)
    # Two scans, as after a restart or from two instances: one reminder.
    for _ in range(2):
        await emit_consultation_reminders(PostgresAssignmentUnitOfWork(pool), UNIT, scan_at)
    cancelled = await client.delete(f"/v1/consultations/{booked['consultation_id']}", headers=partner(1))
    assert cancelled.status_code == 200
    async with relaying(pool, database_url, kafka_settings):
        records = await read_topic(
            kafka_settings.bootstrap_servers, kafka_settings.topic(TOPIC_WORKPLACE), expect=3
        )
        await eventually(
            lambda: pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"), lambda n: n == 0
        )
    values = [value for _, value, _, _ in records]
    assert [(v["event_type"], v["data"]["sequence"]) for v in values] == [
        ("consultation.booked", 0), ("consultation.reminder", 0), ("consultation.cancelled", 1)
    ]  # fmt: skip
    assert {key for key, *_ in records} == {booked["consultation_id"].encode()}
    assert values[2]["data"]["cancelled_by"] == "partner-1"
    assert all(v["data"]["starts_at"] == values[0]["data"]["starts_at"] for v in values)
    assert "Storgatan" not in json.dumps(values) and "topic" not in json.dumps(values)
    assert len({v["event_id"] for v in values}) == 3
