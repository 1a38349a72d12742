"""Metrics run handlers: a run of events written with one statement each leaves the same rows.

The consumer hands consecutive new events of one topic to `Projection.run`, which sends each
statement once for the whole run (`executemany`). These tests apply random event sequences to
one schema event by event (`Projection.one`) and to another split into runs by topic, as the
consumer does, and compare every metrics table row for row.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.metrics.projections import PROJECTIONS
from shared import db
from shared.consumer import EventConsumer, Record, Subscription
from shared.events import (
    TOPIC_ASSIGNED,
    TOPIC_DEADLINES,
    TOPIC_NOTIFICATIONS,
    TOPIC_RECEIVED,
    TOPIC_ROTATION,
    TOPIC_UPDATED,
    DeadlineEvent,
    Deadlines,
    Envelope,
    NotificationOutcome,
    ReferralAssigned,
    ReferralReceived,
    ReferralUpdated,
    RotationHandover,
    encode_event,
    new_envelope,
)
from shared.postgres import PostgresUnitOfWork
from shared.settings import ConsumerSettings, DatabaseSettings

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
METRICS_TABLES = (
    "received",
    "assigned",
    "assignment_events",
    "cases",
    "deadline_states",
    "breaches",
    "handovers",
    "notification_outcomes",
)
Event = tuple[str, Envelope[Any]]


def at(rng: random.Random) -> datetime:
    """One of a few instants, so that events often tie or arrive out of time order."""
    return T0 + timedelta(hours=rng.choice((0, 1, 2, 3)))


def maybe_at(rng: random.Random) -> datetime | None:
    return rng.choice((None, at(rng) + timedelta(days=rng.choice((1, 7, 90)))))


def _received(rng: random.Random, rid: str, team: str) -> tuple[str, Any]:
    return "referral.received", ReferralReceived(
        referral_id=rid,
        submission_id=f"s-{rid}",
        kind=rng.choice(("report", "application")),
        channel=rng.choice(("e_service", "phone")),
        received_at=at(rng),
        reporter_type=rng.choice(("school", "police", "neighbour")),
        reporter_mandatory=rng.random() < 0.5,
        feedback_requested=False,
        categories=("neglect",),
        acute_danger=rng.random() < 0.3,
        protected_identity=False,
        child_key=f"c{rid}",
        family_key=f"f{rid}",
    )


def _assigned(rng: random.Random, rid: str, team: str) -> tuple[str, Any]:
    reason = rng.choice(("rotation", "continuity", "manual"))
    return "referral.reassigned" if reason == "manual" else "referral.assigned", ReferralAssigned(
        referral_id=rid,
        family_key=f"f{rid}",
        team=team,
        caseworker=rng.choice(("cw-1", "cw-2", "cw-3")),
        reason=reason,
        explanation="test",
        received_at=at(rng),
        weight=rng.choice((None, 1.5, 3.0)),
        deadlines=Deadlines(
            protection_assessment_due=maybe_at(rng), preliminary_assessment_due=maybe_at(rng)
        ),
    )


UPDATES = (
    ("referral.acknowledged", "acknowledged"),
    ("referral.protection_assessed", "protection_assessed"),
    ("referral.decided", "investigation"),
    ("referral.decided", "closed"),
    ("investigation.extended", "investigation"),
    ("investigation.closed", "closed"),
    ("investigation.closed", "investigation"),
)


def _updated(rng: random.Random, rid: str, team: str) -> tuple[str, Any]:
    event_type, status = rng.choice(UPDATES)
    return event_type, ReferralUpdated(
        referral_id=rid,
        family_key=f"f{rid}",
        status=status,
        at=at(rng),
        investigation_due=maybe_at(rng),
        feedback_due=maybe_at(rng),
    )


def _deadline(rng: random.Random, rid: str, team: str) -> tuple[str, Any]:
    return rng.choice(("deadline.approaching", "deadline.breached")), DeadlineEvent(
        referral_id=rid,
        family_key=f"f{rid}",
        team=team,
        due_at=at(rng) + timedelta(days=1),
        deadline=rng.choice(
            ("protection_assessment", "preliminary_assessment", "investigation", "reporter_feedback")
        ),
    )


def _handover(rng: random.Random, rid: str, team: str) -> tuple[str, Any]:
    return "rotation.handover", RotationHandover(
        from_team=team, to_team=rng.choice(("team-b", "team-c")), at=at(rng), next_handover_at=maybe_at(rng)
    )


def _notification(rng: random.Random, rid: str, team: str) -> tuple[str, Any]:
    return rng.choice(
        ("notification.sent", "notification.failed", "notification.unknown")
    ), NotificationOutcome(
        family_key=f"f{rid}",
        source_event_id=uuid.uuid4(),
        channel=rng.choice(("email", "teams")),
        recipient="cw-1",
        attempts=1,
    )


BUILDERS = {
    TOPIC_RECEIVED: _received,
    TOPIC_ASSIGNED: _assigned,
    TOPIC_UPDATED: _updated,
    TOPIC_DEADLINES: _deadline,
    TOPIC_ROTATION: _handover,
    TOPIC_NOTIFICATIONS: _notification,
}


def random_event(rng: random.Random, topic: str) -> Envelope[Any]:
    """A synthetic event of `topic` about one of three referrals (opaque ids only)."""
    rid = rng.choice(("R1", "R2", "R3"))
    event_type, data = BUILDERS[topic](rng, rid, rng.choice(("team-a", "team-b")))
    occurred = at(rng) + timedelta(minutes=5)
    return new_envelope(event_type, data, producer="test", correlation_id=rid, occurred_at=occurred)


def random_events(rng: random.Random, count: int) -> list[Event]:
    """Events of all projected topics; a topic often repeats, so runs of several events form."""
    topics = list(PROJECTIONS)
    events: list[Event] = []
    topic = rng.choice(topics)
    for _ in range(count):
        if rng.random() > 0.7:
            topic = rng.choice(topics)
        events.append((topic, random_event(rng, topic)))
    return events


def runs_by_topic(events: Sequence[Event]) -> list[tuple[str, list[Envelope[Any]]]]:
    """Consecutive events of one topic, as `shared.consumer` hands them to a run handler."""
    runs: list[tuple[str, list[Envelope[Any]]]] = []
    for topic, envelope in events:
        if runs and runs[-1][0] == topic:
            runs[-1][1].append(envelope)
        else:
            runs.append((topic, [envelope]))
    return runs


async def apply_each(conn: asyncpg.Connection, events: Sequence[Event]) -> None:
    async with conn.transaction():
        for topic, envelope in events:
            await PROJECTIONS[topic].one(conn, envelope)


async def apply_runs(conn: asyncpg.Connection, events: Sequence[Event]) -> None:
    async with conn.transaction():
        for topic, run in runs_by_topic(events):
            await PROJECTIONS[topic].run(conn, run)


async def dump(conn: asyncpg.Connection) -> dict[str, list[tuple[Any, ...]]]:
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


async def test_every_metrics_table_is_listed_so_the_comparison_sees_every_row(schemas):
    each, _ = schemas
    tables = await each.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'metrics_each'"
        " AND table_name NOT IN ('inbox', 'outbox', 'schema_migrations')"
    )
    assert sorted(r["table_name"] for r in tables) == sorted(METRICS_TABLES)


def test_within_a_projection_every_statement_writes_a_table_of_its_own():
    """The reason a run may send statement A for all events before B (projections.py)."""
    for topic, projection in PROJECTIONS.items():
        tables = [re.match(r"(?:INSERT INTO|UPDATE) (\w+)", sql) for sql, _ in projection.steps]
        names = [m.group(1) for m in tables if m is not None]
        assert len(names) == len(projection.steps), topic
        assert len(set(names)) == len(names), topic


@pytest.mark.parametrize("seed", range(8))
async def test_runs_leave_the_same_rows_as_the_events_one_by_one(schemas, seed: int):
    each, run = schemas
    events = random_events(random.Random(seed), 120)
    assert max(len(r) for _, r in runs_by_topic(events)) > 1

    await apply_each(each, events)
    await apply_runs(run, events)

    expected = await dump(each)
    assert sum(len(rows) for rows in expected.values()) > 0
    assert await dump(run) == expected


async def test_the_sequences_depend_on_order_so_a_reordering_run_would_be_caught(schemas):
    """The comparison above has teeth: the same events in another order give other rows."""
    each, other = schemas
    differs = 0
    for seed in range(8):
        events = random_events(random.Random(seed), 120)
        for conn in (each, other):
            await conn.execute("TRUNCATE " + ", ".join(METRICS_TABLES))
        await apply_each(each, events)
        await apply_runs(other, events[::-1])
        differs += await dump(each) != await dump(other)
    assert differs > 0


def batch_of_fifty() -> list[Event]:
    """Ten referrals' received, assigned, decided, approaching and notified events, by topic."""
    rng = random.Random(50)
    events: list[Event] = []
    for topic in (TOPIC_RECEIVED, TOPIC_ASSIGNED, TOPIC_UPDATED, TOPIC_DEADLINES, TOPIC_NOTIFICATIONS):
        for n in range(10):
            envelope = random_event(rng, topic)
            data = envelope.data
            if topic == TOPIC_ASSIGNED:
                data = data.model_copy(
                    update={
                        "deadlines": Deadlines(protection_assessment_due=T0, preliminary_assessment_due=T0)
                    }
                )
            if topic == TOPIC_UPDATED:
                envelope = envelope.model_copy(update={"event_type": "referral.decided"})
                data = data.model_copy(
                    update={"status": "investigation", "investigation_due": T0, "feedback_due": None}
                )
            if topic == TOPIC_DEADLINES:
                envelope = envelope.model_copy(update={"event_type": "deadline.approaching"})
            if hasattr(data, "referral_id"):
                data = data.model_copy(update={"referral_id": f"R{n}"})
            events.append((topic, envelope.model_copy(update={"data": data})))
    return events


async def test_a_batch_of_fifty_events_takes_nine_statements_instead_of_one_hundred_and_ten(schemas):
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
        await apply_each(each, events)
    with run.query_logger(counter("run")):
        await apply_runs(run, events)

    assert await dump(run) == await dump(each)
    # Per referral, one by one: received 1, assigned 5 (assigned, assignment_events, cases, two
    # clocks), decided 3 (status, met clock, investigation clock), approaching 1, notification 1.
    # By runs: one statement per step with rows: 1 + 4 + 2 + 1 (no breach rows) + 1.
    # Both include BEGIN and COMMIT.
    assert sent == {"each": 10 * (1 + 5 + 3 + 1 + 1) + 2, "run": (1 + 4 + 2 + 1 + 1) + 2}


async def test_the_consumer_hands_runs_to_the_projections_with_the_same_result(database_url, schemas):
    each, _ = schemas
    pool = await db.create_pool(DatabaseSettings(url=database_url), "metrics")
    await db.apply_migrations(pool, "metrics", "services.metrics.migrations")
    runs: list[int] = []

    def recorded(topic: str) -> Any:
        async def run(uow: PostgresUnitOfWork, events: Sequence[Envelope[Any]]) -> None:
            runs.append(len(events))
            await PROJECTIONS[topic].handle(uow, events)

        return run

    def incoming(i: int, event: Event) -> Record:
        topic, envelope = event
        return Record(encode_event(envelope), topic, 0, i)

    events = random_events(random.Random(99), 60)
    subscriptions = {t: Subscription(t, p.model, recorded(t)) for t, p in PROJECTIONS.items()}
    consumer = EventConsumer(
        lambda: PostgresUnitOfWork(pool),
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
    await apply_each(each, events)
    assert got == await dump(each)


CLOCK_DAYS = {
    "protection_assessment": 1,
    "preliminary_assessment": 14,
    "investigation": 120,
    "reporter_feedback": 21,
}


def lifecycle(rng: random.Random, rid: str) -> dict[str, list[Envelope[Any]]]:
    """One referral's events by topic, with times as they happen: receipt, assignment (and maybe
    a reassignment), then actions and deadline events later, each topic in its own order."""
    at_hour = iter(range(1, 10))

    # Each clock has one due time, whichever event names it.
    due = {name: T0 + timedelta(days=days) for name, days in CLOCK_DAYS.items()}

    def envelope(topic: str) -> Envelope[Any]:
        event_type, data = BUILDERS[topic](rng, rid, "team-a")
        if topic in (TOPIC_RECEIVED, TOPIC_ASSIGNED):
            data = data.model_copy(update={"received_at": T0})
        if topic == TOPIC_ASSIGNED:
            clocks = Deadlines(
                protection_assessment_due=due["protection_assessment"],
                preliminary_assessment_due=due["preliminary_assessment"],
            )
            data = data.model_copy(update={"deadlines": clocks})
        if topic == TOPIC_UPDATED:
            data = data.model_copy(
                update={
                    "at": T0 + timedelta(hours=next(at_hour)),
                    "investigation_due": data.investigation_due and due["investigation"],
                    "feedback_due": data.feedback_due and due["reporter_feedback"],
                }
            )
        if topic == TOPIC_DEADLINES:
            data = data.model_copy(update={"due_at": due[data.deadline]})
        if topic == TOPIC_ASSIGNED and event_type == "referral.reassigned":
            event_type = "referral.assigned"  # the first assignment; a reassignment may follow
        return new_envelope(event_type, data, producer="test", correlation_id=rid, occurred_at=T0)

    by_topic = {TOPIC_RECEIVED: [envelope(TOPIC_RECEIVED)], TOPIC_ASSIGNED: [envelope(TOPIC_ASSIGNED)]}
    if rng.random() < 0.5:
        by_topic[TOPIC_ASSIGNED].append(
            envelope(TOPIC_ASSIGNED).model_copy(update={"event_type": "referral.reassigned"})
        )
    by_topic[TOPIC_UPDATED] = [envelope(TOPIC_UPDATED) for _ in range(rng.randint(1, 3))]
    by_topic[TOPIC_DEADLINES] = [envelope(TOPIC_DEADLINES) for _ in range(rng.randint(0, 2))]
    return by_topic


def interleaved(rng: random.Random, by_topic: dict[str, list[Envelope[Any]]]) -> list[Event]:
    """The events in a random order across topics, each topic's own order kept (as Kafka does)."""
    queues = {topic: list(events) for topic, events in by_topic.items() if events}
    out: list[Event] = []
    while queues:
        topic = rng.choice(sorted(queues))
        out.append((topic, queues[topic].pop(0)))
        if not queues[topic]:
            del queues[topic]
    return out


@pytest.mark.parametrize("seed", range(6))
async def test_the_rows_do_not_depend_on_the_order_between_topics(schemas, seed: int):
    """Topics have no order between them: a referral's status update may be read before its
    assignment (a consumer catching up reads both at once). Every interleaving that keeps each
    topic's own order must leave the same rows, and the case must end with its latest status."""
    rng = random.Random(seed)
    referrals = {f"R{n}": lifecycle(rng, f"R{n}") for n in range(4)}
    in_topic_order = [
        (topic, envelope)
        for topic in (TOPIC_RECEIVED, TOPIC_ASSIGNED, TOPIC_UPDATED, TOPIC_DEADLINES)
        for by_topic in referrals.values()
        for envelope in by_topic.get(topic, [])
    ]
    first, other = schemas
    await apply_each(first, in_topic_order)
    expected = await dump(first)
    latest = {rid: by_topic[TOPIC_UPDATED][-1].data.status for rid, by_topic in referrals.items()}
    assert {r[0]: r[3] for r in expected["cases"]} == latest

    for _ in range(5):
        merged = {topic: [e for t, e in in_topic_order if t == topic] for topic, _ in in_topic_order}
        await other.execute("TRUNCATE " + ", ".join(METRICS_TABLES))
        await apply_each(other, interleaved(rng, merged))
        assert await dump(other) == expected
