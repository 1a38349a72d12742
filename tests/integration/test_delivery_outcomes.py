"""Final outcomes of deliveries (services/notifications/delivery.py `finish_rows`): one statement
for a whole batch, yet a row changes, and gets its outcome event, only while it is `sending`."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest

from services.notifications import postgres
from services.notifications.delivery import finish_rows, reap_abandoned
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


async def expire(pool, rows) -> None:
    await pool.execute(
        "UPDATE deliveries SET claimed_until = now() - interval '1 s' WHERE id = ANY($1::bigint[])",
        [r["id"] for r in rows],
    )


async def test_claims_past_their_lease_that_had_handed_over_become_unknown_once_with_one_event_each(pool):
    rows = await claimed(pool, ["cw-a1", "cw-a2", "cw-b1"])
    assert await postgres.hand_over(pool, [(r["id"], r["attempts"]) for r in rows[:2]]) == {
        r["id"] for r in rows[:2]
    }
    await expire(pool, [rows[0], rows[2]])
    ctx = notification_context(unit_config(), SystemClock())

    assert await reap_abandoned(pool, ctx) == 2
    assert await reap_abandoned(pool, ctx) == 0

    statuses = {
        r["recipient"]: (r["status"], r["attempts"]) for r in await pool.fetch("SELECT * FROM deliveries")
    }
    # cw-a1 may have left: unknown. cw-a2's lease holds. cw-b1 never left: pending, to be sent again.
    assert statuses == {"cw-a1": ("unknown", 1), "cw-a2": ("sending", 1), "cw-b1": ("pending", 1)}
    assert await outcome_events(pool) == [("notification.unknown", "cw-a1")]


async def test_a_claim_taken_back_by_the_reaper_cannot_hand_over_or_record_anything(pool):
    """A stalled worker whose claim expired before its hand-over: the reaper put the row back, and
    another worker claimed it. The stalled worker's hand-over, outcome and retry change nothing."""
    [stalled] = await claimed(pool, ["cw-a1"])
    await expire(pool, [stalled])
    ctx = notification_context(unit_config(), SystemClock())
    assert await reap_abandoned(pool, ctx) == 1
    [again] = await postgres.claim_email(pool, SystemClock().now(), 10, 60)
    assert again["attempts"] == stalled["attempts"] + 1

    assert await postgres.hand_over(pool, [(stalled["id"], stalled["attempts"])]) == set()
    async with pool.acquire() as conn, conn.transaction():
        await finish_rows(conn, [(stalled, "failed", "late")])
    await postgres.retry_later(pool, [(stalled["id"], stalled["attempts"])], SystemClock().now(), "late")

    row = await pool.fetchrow("SELECT * FROM deliveries")
    assert (row["status"], row["attempts"], row["handed_over_at"]) == ("sending", 2, None)
    assert await outcome_events(pool) == []
    assert await postgres.hand_over(pool, [(again["id"], again["attempts"])]) == {again["id"]}


async def test_a_claim_abandoned_before_handing_over_on_its_last_attempt_fails(pool):
    [row] = await claimed(pool, ["cw-a1"])
    ctx = notification_context(unit_config(), SystemClock())
    await pool.execute("UPDATE deliveries SET attempts = $1", ctx.max_attempts)
    await expire(pool, [row])

    assert await reap_abandoned(pool, ctx) == 1

    after = await pool.fetchrow("SELECT * FROM deliveries")
    assert (after["status"], after["last_error"]) == (
        "failed",
        "sender stopped before sending, on the last attempt",
    )
    assert await outcome_events(pool) == [("notification.failed", "cw-a1")]


async def test_the_worker_sees_in_one_query_whether_teams_or_digest_work_is_due(pool):
    now = SystemClock().now()
    assert await postgres.due_teams_and_digest(pool, now) == (False, False)
    await claimed(pool, ["cw-a1"])  # an email, claimed: neither
    async with pool.acquire() as conn:
        held = NewDelivery(uuid.uuid4(), "cw-a2", "email", "referral.assigned", "R-2", "f-2", "Nytt ärende",
                           "text", not_before=now + timedelta(hours=1), held=True)  # fmt: skip
        assert await postgres.create_delivery(conn, held)
        assert await postgres.due_teams_and_digest(pool, now) == (False, False)  # held, not yet due
        assert await postgres.due_teams_and_digest(pool, now + timedelta(hours=2)) == (False, True)
        card = NewDelivery(uuid.uuid4(), "team-a", "teams", "referral.assigned", "R-3", "f-3", "Nytt ärende",
                           "", card="{}")  # fmt: skip
        assert await postgres.create_delivery(conn, card)
    assert await postgres.due_teams_and_digest(pool, SystemClock().now()) == (True, False)
