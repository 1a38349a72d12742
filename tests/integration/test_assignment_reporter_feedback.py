"""The reporter feedback clock through a real broker and Postgres (issue 23): decision → feedback
due → `reporter_feedback.sent` on `referrals.feedback.v1` → the clock stops (no breach); a request
after the decision is due at once and breached when nobody answers; a private reporter's request
starts no clock. A redelivered event changes nothing (the inbox)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import pytest

from services.assignment.adapters.postgres import PostgresAssignmentUnitOfWork
from services.assignment.domain.access import Actor
from services.assignment.domain.cases import CaseAction
from services.assignment.handlers.cases import act_on_case
from services.assignment.handlers.scheduled import emit_scheduled_events
from services.assignment.main import AssignmentSettings, create_app
from shared.clock import FixedClock
from shared.events import (
    TOPIC_FEEDBACK,
    TOPIC_RECEIVED,
    Envelope,
    ReporterFeedback,
    encode_event,
    event_key,
    new_envelope,
)
from shared.settings import DatabaseSettings, KafkaSettings
from tests.assignment_support import UNIT, local, migrated_pool, received
from tests.helpers import eventually, produce

RECEIVED_AT = local(2026, 10, 14, 10, 0)  # a Wednesday
DECIDED_AT = local(2026, 10, 16, 14, 0)  # a Friday
HEAD = Actor("head", frozenset({"head_of_unit"}))


@pytest.fixture
def settings(kafka_broker, topic_prefix, database_url) -> AssignmentSettings:
    return AssignmentSettings(
        kafka=KafkaSettings(
            bootstrap_servers=kafka_broker.bootstrap, flavour=kafka_broker.flavour, topic_prefix=topic_prefix,
            partitions=2,
            session_timeout_ms=kafka_broker.session_timeout_ms,
        ),
        database=DatabaseSettings(url=database_url),
    )  # fmt: skip


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


def news(kind: str, referral_id: str, at: datetime) -> Envelope[ReporterFeedback]:
    data = ReporterFeedback(
        referral_id=referral_id, family_key=f"f-{referral_id}", at=at, by="in-1", channel="email"
    )
    return new_envelope(f"reporter_feedback.{kind}", data, producer="intake", correlation_id=referral_id)


async def clock_of(pool: asyncpg.Pool, referral_id: str) -> tuple[Any, Any, Any]:
    row = await pool.fetchrow(
        "SELECT feedback_requested, feedback_due, feedback_sent_at FROM assignments WHERE referral_id = $1",
        referral_id,
    )
    return (row["feedback_requested"], row["feedback_due"], row["feedback_sent_at"])


async def feedback_alerts(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    rows = await pool.fetch(
        "SELECT p->'data'->>'referral_id' AS r, p->>'event_type' AS t"
        " FROM (SELECT convert_from(payload, 'UTF8')::jsonb AS p, id FROM outbox) o"
        " WHERE p->'data'->>'deadline' = 'reporter_feedback' ORDER BY id"
    )
    return [(r["r"], r["t"]) for r in rows]


async def test_decision_feedback_due_sent_and_the_clock_stops_while_an_unanswered_late_request_breaches(
    settings, pool
) -> None:
    clock = FixedClock(RECEIVED_AT)
    uow = lambda: PostgresAssignmentUnitOfWork(pool)  # noqa: E731
    private = received("R-3", at=RECEIVED_AT, feedback=True)
    private = private.model_copy(
        update={
            "data": private.data.model_copy(update={"reporter_type": "relative", "reporter_mandatory": False})
        }
    )
    async with assignment_service(settings, clock):
        await publish(
            settings, TOPIC_RECEIVED, received("R-1", at=RECEIVED_AT, feedback=True),
            received("R-2", at=RECEIVED_AT), private,
        )  # fmt: skip
        await eventually(lambda: pool.fetchval("SELECT count(*) FROM assignments"), lambda n: n == 3)
        clock.set(DECIDED_AT)
        for rid in ("R-1", "R-2", "R-3"):
            action = CaseAction("decision", HEAD, DECIDED_AT, decision="no_investigation")
            await act_on_case(uow(), UNIT, rid, action, DECIDED_AT)
        assert await clock_of(pool, "R-1") == (True, local(2026, 10, 23, 23, 59, 59), None)
        assert await clock_of(pool, "R-3") == (False, None, None)

        # R-2's reporter asks on Monday morning, after the decision: due at 17:00 that day.
        late = news("requested", "R-2", local(2026, 10, 19, 9, 0))
        await publish(settings, TOPIC_FEEDBACK, late, late)  # the second is a redelivery
        await eventually(lambda: clock_of(pool, "R-2"), lambda c: c[1] is not None)
        assert await clock_of(pool, "R-2") == (True, local(2026, 10, 19, 17, 0), None)

        told = local(2026, 10, 20, 9, 30)
        await publish(settings, TOPIC_FEEDBACK, news("sent", "R-1", told))
        await eventually(lambda: clock_of(pool, "R-1"), lambda c: c[2] is not None)
        assert await clock_of(pool, "R-1") == (True, local(2026, 10, 23, 23, 59, 59), told)

        # Past R-2's due time, inside R-1's reminder leads (3 and 1 days), past R-1's due time.
        for moment in (local(2026, 10, 19, 18, 0), local(2026, 10, 22, 9, 0), local(2026, 10, 24, 9, 0)):
            clock.set(moment)
            await emit_scheduled_events(uow, UNIT, moment)
    alerts = await feedback_alerts(pool)
    assert alerts == [("R-2", "deadline.breached")]  # R-1 was told in time; R-3 is owed nothing
