"""Overload flags against real Postgres and a real Kafka-protocol broker: the events reach
`workplace.v1` through the outbox, without the note; an escalation is emitted once however
many scans run, at once or after a scan that crashed before its commit; a flag keeps the
Postgres-backed assignment away from the flagged caseworker."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from services.assignment.adapters.postgres import PostgresAssignmentUnitOfWork
from services.assignment.domain.access import Actor
from services.assignment.domain.overload import OverloadResponse
from services.assignment.handlers.overload import emit_escalations, raise_flag, respond
from shared import db
from shared.events import TOPIC_WORKPLACE
from shared.kafka import ProducerSender, ensure_topics, make_producer
from shared.outbox import OutboxRelay
from shared.settings import DatabaseSettings, KafkaSettings, OutboxSettings
from tests.assignment_support import UNIT, assign, local, migrated_pool, received
from tests.helpers import read_topic

MONDAY = local(2026, 10, 5, 10, 0)  # team-b on duty; 4 office hours: escalation at 14:00
NOTE = "Synthetic note that must stay in the API"
MGR_B = Actor("mgr-b", frozenset({"manager"}))


@pytest.fixture
def kafka_settings(kafka_broker: Any, topic_prefix: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=kafka_broker.bootstrap, flavour=kafka_broker.flavour, topic_prefix=topic_prefix
    )


@pytest.fixture
async def pool(database_url: str) -> Any:
    pool = await migrated_pool(database_url)
    yield pool
    await pool.close()


def uow_of(pool: asyncpg.Pool) -> Any:
    return lambda: PostgresAssignmentUnitOfWork(pool)


async def raise_as(pool: asyncpg.Pool, staff_id: str) -> str:
    actor = Actor(staff_id, frozenset({"caseworker"}))
    return (await raise_flag(uow_of(pool)(), UNIT, staff_id, NOTE, actor, MONDAY)).flag_id


class CrashBeforeCommit(PostgresAssignmentUnitOfWork):
    """A scan whose process dies after writing the mark and the event, before the commit."""

    async def commit(self) -> None:
        raise ConnectionResetError("the process died here")


async def test_escalation_is_emitted_once_across_crashed_and_concurrent_scans_and_restarts(
    pool, database_url: str
) -> None:
    flag_id = await raise_as(pool, "cw-b1")
    due = local(2026, 10, 5, 14, 0)
    with pytest.raises(ConnectionResetError):
        await emit_escalations(lambda: CrashBeforeCommit(pool), due)
    assert await pool.fetchval("SELECT escalated_at FROM overload_flags") is None
    second = await migrated_pool(database_url)  # another instance, after the restart
    try:
        counts = await asyncio.gather(
            emit_escalations(uow_of(pool), due), emit_escalations(uow_of(second), due + timedelta(seconds=1))
        )
        counts.append(await emit_escalations(uow_of(second), due + timedelta(hours=1)))
    finally:
        await second.close()
    assert sorted(counts) == [0, 0, 1]
    rows = await pool.fetch("SELECT payload FROM outbox WHERE topic = $1", TOPIC_WORKPLACE)
    events = [json.loads(bytes(r["payload"])) for r in rows]
    assert Counter(e["event_type"] for e in events) == {"overload.flagged": 1, "overload.escalated": 1}
    assert {e["data"]["flag_id"] for e in events} == {flag_id}
    assert await pool.fetchval("SELECT count(*) FROM overload_flags WHERE escalated_at IS NOT NULL") == 1


async def test_overload_events_reach_the_topic_through_the_outbox_without_the_note(
    database_url: str, kafka_settings: KafkaSettings
) -> None:
    pool = await migrated_pool(database_url)
    await ensure_topics(kafka_settings, [TOPIC_WORKPLACE])
    producer = make_producer(kafka_settings, client_id="test-relay")
    await producer.start()
    database = DatabaseSettings(url=database_url)
    relay = OutboxRelay(
        pool, ProducerSender(producer), OutboxSettings(poll_interval_s=0.2), schema="assignment",
        service="test", topic_name=kafka_settings.topic, connect=lambda: db.connect(database, "assignment"),
    )  # fmt: skip
    task = asyncio.create_task(relay.run())
    try:
        answered = await raise_as(pool, "cw-b1")
        escalated = await raise_as(pool, "cw-b2")
        response = OverloadResponse(
            "relieve",
            "Synthetic comment",
            MGR_B,
            MONDAY + timedelta(hours=1),
            0.5,
            MONDAY + timedelta(days=7),
        )
        await respond(uow_of(pool)(), UNIT, answered, response)
        assert await emit_escalations(uow_of(pool), local(2026, 10, 5, 14, 0)) == 1
        records = await read_topic(
            kafka_settings.bootstrap_servers, kafka_settings.topic(TOPIC_WORKPLACE), expect=4
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await producer.stop()
        await pool.close()
    seen = sorted((v["event_type"], v["data"]["flag_id"]) for _, v, _, _ in records)
    assert seen == sorted([
        ("overload.flagged", answered), ("overload.flagged", escalated),
        ("overload.responded", answered), ("overload.escalated", escalated),
    ])  # fmt: skip
    responded = next(v["data"] for _, v, _, _ in records if v["event_type"] == "overload.responded")
    assert (responded["action"], responded["capacity_factor"], responded["responded_by"]) == (
        "relieve",
        0.5,
        "mgr-b",
    )
    assert {key for key, *_ in records} == {b"cw-b1", b"cw-b2"}  # keyed by the person: their order kept
    assert "Synthetic" not in json.dumps([v for _, v, _, _ in records])


async def test_a_flagged_caseworker_gets_no_new_referral_from_the_postgres_assignment(pool) -> None:
    await raise_as(pool, "cw-b1")
    rows = [await assign(pool, received(f"R-{i}", at=MONDAY)) for i in range(8)]
    assert "cw-b1" not in {r["caseworker"] for r in rows}
    assert {r["team"] for r in rows} == {"team-b"}
