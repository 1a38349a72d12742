"""Notifications' consumer use case: a run of events leaves the same deliveries and escalations.

The consumer hands consecutive new events of one topic to `record_events`, which writes
escalations in event order and every delivery with one pipelined statement; a single event is a
run of one. These tests apply random event sequences as runs of one to one schema and by random
runs to another, at an office hour and in quiet hours, and compare every notifications table row
for row.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.notifications.adapters.postgres import PostgresNotificationsUnitOfWork
from services.notifications.handlers.events import record_events
from services.notifications.subscribers import inputs
from shared import db
from shared.clock import FixedClock
from shared.events import (
    AccessReview,
    BreakGlassUsed,
    DeadlineEvent,
    Deadlines,
    Envelope,
    ReferralAssigned,
    ReferralReceived,
    ReferralUpdated,
    ReviewFinding,
    RotationHandover,
    new_envelope,
)
from shared.settings import DatabaseSettings
from tests.helpers import random_runs
from tests.notifications_support import MONDAY_10, example_unit

# Two people with Teams chats of their own, so `staff:` recipients and their slots are compared too.
UNIT = example_unit(staff_webhooks={"mgr-b": "http://127.0.0.1:9/b", "head": "http://127.0.0.1:9/h"})
SATURDAY_22 = MONDAY_10 - timedelta(days=1, hours=12)  # quiet hours: held for the office
TABLES = {
    "deliveries": "source_event_id, recipient, channel, kind, referral_id, family_key, subject, body_text,"
    " body_html, card, held, status, attempts, CASE WHEN held THEN next_attempt_at END",
    "escalations": "*",
    "acknowledged": "*",
    "webhook_slots": "*",
}


@pytest.fixture
async def schemas(database_url: str) -> AsyncIterator[tuple[asyncpg.Pool, asyncpg.Pool]]:
    pools = []
    for schema in ("notifications_each", "notifications_run"):
        pool = await db.create_pool(DatabaseSettings(url=database_url), schema)
        await db.apply_migrations(pool, schema, "services.notifications.migrations")
        pools.append(pool)
    try:
        yield pools[0], pools[1]
    finally:
        for pool in pools:
            await pool.close()


def random_event(rng: random.Random, at: datetime) -> Envelope[Any]:
    """An event about one of ten referrals (or the unit), of every kind notifications reads."""
    rid = f"R{rng.randrange(10)}"
    team = rng.choice(("team-a", "team-b"))
    kind = rng.choice(
        (
            "received",
            "assigned",
            "reassigned",
            "acknowledged",
            "deadline",
            "handover",
            "break_glass",
            "review",
        )
    )
    if kind == "received":
        data: Any = ReferralReceived(
            referral_id=rid, submission_id=f"s-{rid}", kind="report", channel="e_service", received_at=at,
            reporter_type="police", reporter_mandatory=True, feedback_requested=False,
            categories=("violence",), acute_danger=rng.random() < 0.5, protected_identity=False,
            child_key=f"c-{rid}", family_key=f"f-{rid}",
        )  # fmt: skip
        return new_envelope("referral.received", data, producer="t", correlation_id=rid, occurred_at=at)
    if kind in ("assigned", "reassigned"):
        data = ReferralAssigned(
            referral_id=rid, family_key=f"f-{rid}", team=team, caseworker=rng.choice(("cw-a1", "cw-b2")),
            reason="rotation" if kind == "assigned" else "manual", explanation="t", received_at=at,
            acute_danger=rng.random() < 0.4,
            deadlines=Deadlines(protection_assessment_due=at + timedelta(hours=7)),
        )  # fmt: skip
        return new_envelope(f"referral.{kind}", data, producer="t", correlation_id=rid, occurred_at=at)
    if kind == "acknowledged":
        data = ReferralUpdated(referral_id=rid, family_key=f"f-{rid}", status="acknowledged", at=at)
        return new_envelope("referral.acknowledged", data, producer="t", correlation_id=rid, occurred_at=at)
    if kind == "deadline":
        registration = rng.random() < 0.3
        data = DeadlineEvent(
            referral_id=rid, family_key=f"f-{rid}", due_at=at, team=team,
            deadline="registration" if registration else "protection_assessment",
            caseworker=None if registration else "cw-b2", lead_seconds=rng.choice((None, 7200)),
        )  # fmt: skip
        event_type = "deadline.breached" if data.lead_seconds is None else "deadline.approaching"
        return new_envelope(event_type, data, producer="t", correlation_id=rid, occurred_at=at)
    if kind == "break_glass":
        data = BreakGlassUsed(
            referral_id=rid, family_key=f"f-{rid}", team=rng.choice((team, None)), staff="cw-a1", at=at,
            expires_at=at + timedelta(hours=8),
        )  # fmt: skip
        return new_envelope("access.break_glass", data, producer="t", correlation_id=rid, occurred_at=at)
    if kind == "review":
        finding = ReviewFinding(kind="denied", staff="cw-b2", count=rng.randrange(1, 9), referral_ids=(rid,))
        data = AccessReview(
            month="2026-10", head_of_unit="head", entries=rng.randrange(100), findings=(finding,)
        )
        return new_envelope("access.review", data, producer="t", correlation_id="review", occurred_at=at)
    data = RotationHandover(
        from_team="team-a", to_team="team-b", at=at, next_handover_at=at + timedelta(days=14)
    )
    return new_envelope("rotation.handover", data, producer="t", correlation_id="rotation", occurred_at=at)


def random_events(rng: random.Random, count: int, at: datetime) -> list[Envelope[Any]]:
    """Events in time order, with some delivered twice (a republished copy, same event id)."""
    events: list[Envelope[Any]] = []
    for n in range(count):
        if events and rng.random() < 0.1:
            events.append(rng.choice(events))
        else:
            events.append(random_event(rng, at + timedelta(minutes=n)))
    return events


async def dump(pool: asyncpg.Pool) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: sorted((tuple(r) for r in await pool.fetch(f"SELECT {cols} FROM {table}")), key=repr)
        for table, cols in TABLES.items()
    }


async def by_runs(pool: asyncpg.Pool, runs: Iterable[Sequence[Envelope[Any]]], clock: FixedClock) -> None:
    async with PostgresNotificationsUnitOfWork(pool) as uow:
        for run in runs:
            await record_events(uow, inputs(run), UNIT, clock)
        await uow.commit()


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("at", [MONDAY_10, SATURDAY_22], ids=["office", "quiet"])
async def test_runs_leave_the_same_rows_as_the_events_one_by_one(schemas, seed: int, at: datetime):
    clock = FixedClock(at.astimezone(UTC))
    events = random_events(random.Random(seed), 60, at)
    each, runs = schemas
    await by_runs(each, ([event] for event in events), clock)
    await by_runs(runs, random_runs(events, random.Random(seed), (1, 2, 5, 20)), clock)

    expected = await dump(each)
    assert await dump(runs) == expected
    assert {"email", "teams"} <= {row[2] for row in expected["deliveries"]}
    assert {"access.break_glass", "access.review"} <= {row[3] for row in expected["deliveries"]}
    assert any(row[1].startswith("staff:") for row in expected["deliveries"])
    assert expected["escalations"] and expected["acknowledged"] and expected["webhook_slots"]


async def test_a_run_of_twenty_assignments_stores_its_deliveries_with_one_statement(schemas):
    clock = FixedClock(MONDAY_10.astimezone(UTC))
    events = [
        new_envelope(
            "referral.assigned",
            ReferralAssigned(
                referral_id=f"R{n}",
                family_key=f"f{n}",
                team="team-b",
                caseworker="cw-b2",
                reason="rotation",
                explanation="t",
                received_at=MONDAY_10,
                deadlines=Deadlines(),
            ),
            producer="t",
            correlation_id=f"R{n}",
        )
        for n in range(20)
    ]
    sent: list[str] = []
    _, runs = schemas
    async with PostgresNotificationsUnitOfWork(runs) as uow:
        uow.conn.add_query_logger(lambda q: sent.append(q.query))
        await record_events(uow, inputs(events), example_unit(), clock)
        await uow.commit()
    assert [q for q in sent if "INSERT INTO deliveries" in q] == [sent[0]]
    # ... and one for the team's webhook slot, then the commit: nothing else
    assert len(sent) == 3 and "webhook_slots" in sent[1] and sent[2].startswith("COMMIT")
    assert await runs.fetchval("SELECT count(*) FROM deliveries") >= 20
