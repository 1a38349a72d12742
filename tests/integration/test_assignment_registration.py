"""Registration through a real broker (issue 19): `referral.registered` on `referrals.registered.v1`
marks the case registered and stops its registration reminders and breach; one that arrives before
its referral is assigned (the topics have no order between them) is kept for the assignment."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import pytest

from services.assignment.adapters.postgres import PostgresAssignmentUnitOfWork
from services.assignment.domain.registration import Registration
from services.assignment.handlers.assign import assign_referrals
from services.assignment.handlers.registration import record_registrations
from services.assignment.handlers.scheduled import emit_scheduled_events
from services.assignment.main import AssignmentSettings, create_app
from services.assignment.subscribers import referral_message
from shared.clock import FixedClock
from shared.events import (
    TOPIC_RECEIVED,
    TOPIC_REGISTERED,
    Envelope,
    ReferralRegistered,
    encode_event,
    event_key,
    new_envelope,
)
from shared.settings import DatabaseSettings, KafkaSettings
from tests.assignment_support import UNIT, assign_batch, local, migrated_pool, received
from tests.helpers import eventually, produce

RECEIVED_AT = local(2026, 10, 20, 10, 0)  # a Tuesday: registration due 16:00, its reminder at 14:00


@pytest.fixture
def settings(kafka_broker, topic_prefix, database_url) -> AssignmentSettings:
    return AssignmentSettings(
        kafka=KafkaSettings(
            bootstrap_servers=kafka_broker.bootstrap,
            flavour=kafka_broker.flavour,
            topic_prefix=topic_prefix,
            partitions=2,
            session_timeout_ms=kafka_broker.session_timeout_ms,
        ),
        database=DatabaseSettings(url=database_url),
    )


@pytest.fixture
async def pool(database_url) -> AsyncIterator[asyncpg.Pool]:
    pool = await migrated_pool(database_url)
    yield pool
    await pool.close()


@contextlib.asynccontextmanager
async def assignment_service(settings: AssignmentSettings, clock: FixedClock) -> AsyncIterator[None]:
    app = create_app(settings, clock)
    async with app.router.lifespan_context(app):
        yield


async def publish(settings: AssignmentSettings, topic: str, *events: Envelope[Any]) -> None:
    values = [(event_key(e), encode_event(e)) for e in events]
    await produce(settings.kafka.bootstrap_servers, settings.kafka.topic(topic), values)


def registered(referral_id: str, at: datetime, by: str = "in-1") -> Envelope[ReferralRegistered]:
    data = ReferralRegistered(referral_id=referral_id, family_key=f"f-{referral_id}", registered_at=at, by=by)
    return new_envelope("referral.registered", data, producer="intake", correlation_id=referral_id)


async def registration(pool: asyncpg.Pool, referral_id: str) -> tuple[Any, Any] | None:
    row = await pool.fetchrow(
        "SELECT registered_at, registered_by FROM assignments WHERE referral_id = $1", referral_id
    )
    return None if row is None else (row["registered_at"], row["registered_by"])


async def registration_alerts(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    rows = await pool.fetch(
        "SELECT p->'data'->>'referral_id' AS r, p->>'event_type' AS t"
        " FROM (SELECT convert_from(payload, 'UTF8')::jsonb AS p, id FROM outbox) o"
        " WHERE p->'data'->>'deadline' = 'registration' ORDER BY id"
    )
    return [(r["r"], r["t"]) for r in rows]


async def test_a_registered_event_marks_the_case_and_stops_its_registration_reminders(settings, pool) -> None:
    clock = FixedClock(RECEIVED_AT)
    async with assignment_service(settings, clock):
        # R-2's registration is read before its referral: it waits for the assignment.
        await publish(settings, TOPIC_REGISTERED, registered("R-2", local(2026, 10, 20, 10, 30), "in-2"))
        await eventually(lambda: pool.fetchval("SELECT count(*) FROM registrations"), lambda n: n == 1)
        await publish(settings, TOPIC_RECEIVED, *[received(r, at=RECEIVED_AT) for r in ("R-1", "R-2", "R-3")])
        await eventually(lambda: pool.fetchval("SELECT count(*) FROM assignments"), lambda n: n == 3)
        await publish(settings, TOPIC_REGISTERED, registered("R-1", local(2026, 10, 20, 11, 0)))
        assert await eventually(
            lambda: registration(pool, "R-1"), lambda r: r is not None and r[0] is not None
        ) == (
            local(2026, 10, 20, 11, 0),
            "in-1",
        )
        assert await registration(pool, "R-2") == (local(2026, 10, 20, 10, 30), "in-2")

        # The reminder's moment and the due time pass: only the unregistered R-3 is alerted.
        for moment in (local(2026, 10, 20, 14, 0), local(2026, 10, 20, 16, 0), local(2026, 10, 21, 9, 0)):
            clock.set(moment)
            await emit_scheduled_events(lambda: PostgresAssignmentUnitOfWork(pool), UNIT, moment)
    assert await registration(pool, "R-3") == (None, None)
    assert await registration_alerts(pool) == [("R-3", "deadline.approaching"), ("R-3", "deadline.breached")]


async def waiting_for_a_lock(pool: asyncpg.Pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")


async def test_a_registration_and_an_assignment_committing_at_once_do_not_miss_each_other(pool) -> None:
    """Each waits for the other's transaction on the referral's lock, then sees what it stored."""
    # The registration first, uncommitted; the assignment of the same referral waits for it.
    async with PostgresAssignmentUnitOfWork(pool) as registering:
        await record_registrations(registering, [Registration("R-1", RECEIVED_AT, "in-1")])
        assigning = asyncio.create_task(assign_batch(pool, [received("R-1", at=RECEIVED_AT)]))
        await eventually(lambda: waiting_for_a_lock(pool), lambda n: n == 1)
        await registering.commit()
    await assigning
    assert await registration(pool, "R-1") == (RECEIVED_AT, "in-1")

    # The assignment first, uncommitted; the registration waits for it.
    async with PostgresAssignmentUnitOfWork(pool) as assigning_uow:
        await assign_referrals(assigning_uow, UNIT, [referral_message(received("R-2", at=RECEIVED_AT))])

        async def register() -> None:
            async with PostgresAssignmentUnitOfWork(pool) as uow:
                await record_registrations(uow, [Registration("R-2", RECEIVED_AT, "in-2")])
                await uow.commit()

        registering_task = asyncio.create_task(register())
        await eventually(lambda: waiting_for_a_lock(pool), lambda n: n == 1)
        await assigning_uow.commit()
    await registering_task
    assert await registration(pool, "R-2") == (RECEIVED_AT, "in-2")
