"""Final outcomes of deliveries (services/notifications/delivery.py `finish_rows`): one statement
for a whole batch, yet a row changes, and gets its outcome event, only while it is `sending`."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest

from services.notifications import postgres
from services.notifications.delivery import finish_rows, mark_abandoned_unknown
from services.notifications.main import notification_context
from services.notifications.postgres import NewDelivery
from shared import db
from shared.clock import SystemClock
from shared.settings import DatabaseSettings
from tests.integration.test_notifications_scheduling import unit_config


@pytest.fixture
async def pool(database_url):
    pool = await db.create_pool(DatabaseSettings(url=database_url), "notifications")
    await db.apply_migrations(pool, "notifications", "services.notifications.migrations")
    try:
        yield pool
    finally:
        await pool.close()


async def claimed(pool, people: list[str], lease_s: float = 60) -> list:
    async with pool.acquire() as conn:
        for person in people:
            new = NewDelivery(uuid.uuid4(), person, "email", "referral.assigned", f"R-{person}", "f-1",
                              "Nytt ärende", "text")  # fmt: skip
            assert await postgres.create_delivery(conn, new)
    rows = await postgres.claim_email(pool, SystemClock().now(), 10, lease_s)
    assert len(rows) == len(people)
    return sorted(rows, key=lambda r: r["recipient"])


async def outcome_events(pool) -> list[tuple[str, str]]:
    rows = await pool.fetch("SELECT payload FROM outbox WHERE topic = 'notifications.v1' ORDER BY id")
    return [(e["event_type"], e["data"]["recipient"]) for e in (json.loads(r["payload"]) for r in rows)]


async def test_a_batch_of_outcomes_changes_only_rows_still_sending_and_publishes_one_event_each(pool):
    a, b, c = await claimed(pool, ["cw-a1", "cw-a2", "cw-b1"])
    await pool.execute("UPDATE deliveries SET status = 'unknown' WHERE id = $1", c["id"])  # reaped meanwhile

    async with pool.acquire() as conn, conn.transaction():
        await finish_rows(conn, [(a, "sent", None), (b, "failed", "550 no such user"), (c, "sent", None)])

    statuses = {
        r["recipient"]: (r["status"], r["last_error"]) for r in await pool.fetch("SELECT * FROM deliveries")
    }
    assert statuses == {
        "cw-a1": ("sent", None),
        "cw-a2": ("failed", "550 no such user"),
        "cw-b1": ("unknown", None),
    }
    assert await outcome_events(pool) == [("notification.sent", "cw-a1"), ("notification.failed", "cw-a2")]

    async with pool.acquire() as conn, conn.transaction():  # the same outcomes again: nothing changes
        await finish_rows(conn, [(a, "sent", None), (b, "failed", "550 no such user")])
    assert len(await outcome_events(pool)) == 2


async def test_claims_past_their_lease_become_unknown_once_with_one_event_each(pool):
    rows = await claimed(pool, ["cw-a1", "cw-a2"])
    await pool.execute(
        "UPDATE deliveries SET claimed_until = now() - interval '1 s' WHERE id = $1", rows[0]["id"]
    )
    ctx = notification_context(unit_config(), SystemClock())

    assert await mark_abandoned_unknown(pool, ctx) == 1
    assert await mark_abandoned_unknown(pool, ctx) == 0

    statuses = {r["recipient"]: r["status"] for r in await pool.fetch("SELECT * FROM deliveries")}
    assert statuses == {"cw-a1": "unknown", "cw-a2": "sending"}
    assert await outcome_events(pool) == [("notification.unknown", "cw-a1")]


async def test_the_worker_sees_in_one_query_whether_teams_or_digest_work_is_due(pool):
    now = SystemClock().now()
    assert await postgres.due_teams_and_digest(pool, now) == (False, False)
    await claimed(pool, ["cw-a1"])  # an email, claimed: neither
    async with pool.acquire() as conn:
        held = NewDelivery(uuid.uuid4(), "cw-a2", "email", "referral.assigned", "R-2", "f-2", "Nytt ärende",
                           "text", not_before=now + timedelta(hours=1))  # fmt: skip
        assert await postgres.create_delivery(conn, held)
        assert await postgres.due_teams_and_digest(pool, now) == (False, False)  # held, not yet due
        assert await postgres.due_teams_and_digest(pool, now + timedelta(hours=2)) == (False, True)
        card = NewDelivery(uuid.uuid4(), "team-a", "teams", "referral.assigned", "R-3", "f-3", "Nytt ärende",
                           "", card="{}")  # fmt: skip
        assert await postgres.create_delivery(conn, card)
    assert await postgres.due_teams_and_digest(pool, SystemClock().now()) == (True, False)
