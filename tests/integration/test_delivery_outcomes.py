"""Final outcomes of deliveries in Postgres (adapters/postgres_deliveries.py `finish`): one statement
for a whole batch, yet a row changes, and gets its outcome event, only while its claim holds."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from services.notifications.adapters.postgres import PostgresNotificationsUnitOfWork
from services.notifications.adapters.postgres_deliveries import PostgresDeliveryLedger
from services.notifications.domain.delivery import Finish, RetryLater, Status
from services.notifications.handlers.sending import outcome_row
from shared import db
from shared.clock import SystemClock
from shared.settings import DatabaseSettings
from tests.notifications_support import BUDGET, add, claimed, courier, example_unit, new_delivery


@pytest.fixture
async def pool(database_url):
    pool = await db.create_pool(DatabaseSettings(url=database_url), "notifications")
    await db.apply_migrations(pool, "notifications", "services.notifications.migrations")
    try:
        yield pool
    finally:
        await pool.close()


def uow_of(pool):
    return lambda: PostgresNotificationsUnitOfWork(pool)


async def claimed_in(pool, people: list[str], lease_s: float = 60) -> list:
    return await claimed(uow_of(pool), PostgresDeliveryLedger(pool), people, timedelta(seconds=lease_s))


async def finish(pool, outcomes) -> None:
    async with PostgresNotificationsUnitOfWork(pool) as uow:
        await uow.deliveries.finish([(f, outcome_row(d, f)) for d, f in outcomes])
        await uow.commit()


def reaper(pool):
    return courier(PostgresDeliveryLedger(pool), uow_of(pool), {}, example_unit())


async def outcome_events(pool) -> list[tuple[str, str]]:
    rows = await pool.fetch("SELECT payload FROM outbox WHERE topic = 'notifications.v1' ORDER BY id")
    return [(e["event_type"], e["data"]["recipient"]) for e in (json.loads(r["payload"]) for r in rows)]


async def test_a_batch_of_outcomes_changes_only_rows_still_sending_and_publishes_one_event_each(pool):
    a, b, c = await claimed_in(pool, ["cw-a1", "cw-a2", "cw-b1"])
    await pool.execute(
        "UPDATE deliveries SET status = 'unknown' WHERE id = $1", c.claim.delivery_id
    )  # reaped

    outcomes = [
        (a, Finish(a.claim, Status.SENT)),
        (b, Finish(b.claim, Status.FAILED, "550 no such user")),
        (c, Finish(c.claim, Status.SENT)),
    ]
    await finish(pool, outcomes)

    statuses = {
        r["recipient"]: (r["status"], r["last_error"]) for r in await pool.fetch("SELECT * FROM deliveries")
    }
    assert statuses == {
        "cw-a1": ("sent", None),
        "cw-a2": ("failed", "550 no such user"),
        "cw-b1": ("unknown", None),
    }
    assert await outcome_events(pool) == [("notification.sent", "cw-a1"), ("notification.failed", "cw-a2")]

    await finish(pool, outcomes[:2])  # the same outcomes again: nothing changes
    assert len(await outcome_events(pool)) == 2


async def expire(pool, rows) -> None:
    await pool.execute(
        "UPDATE deliveries SET claimed_until = now() - interval '1 s' WHERE id = ANY($1::bigint[])",
        [r.claim.delivery_id for r in rows],
    )


async def test_claims_past_their_lease_that_had_handed_over_become_unknown_once_with_one_event_each(pool):
    rows = await claimed_in(pool, ["cw-a1", "cw-a2", "cw-b1"])
    assert await PostgresDeliveryLedger(pool).hand_over([r.claim for r in rows[:2]]) == {
        r.claim.delivery_id for r in rows[:2]
    }
    await expire(pool, [rows[0], rows[2]])

    assert await reaper(pool).reap_abandoned() == 2
    assert await reaper(pool).reap_abandoned() == 0

    statuses = {
        r["recipient"]: (r["status"], r["attempts"]) for r in await pool.fetch("SELECT * FROM deliveries")
    }
    # cw-a1 may have left: unknown. cw-a2's lease holds. cw-b1 never left: pending, to be sent again.
    assert statuses == {"cw-a1": ("unknown", 1), "cw-a2": ("sending", 1), "cw-b1": ("pending", 1)}
    assert await outcome_events(pool) == [("notification.unknown", "cw-a1")]


async def test_a_claim_taken_back_by_the_reaper_cannot_hand_over_or_record_anything(pool):
    """A stalled worker whose claim expired before its hand-over: the reaper put the row back, and
    another worker claimed it. The stalled worker's hand-over, outcome and retry change nothing."""
    ledger = PostgresDeliveryLedger(pool)
    [stalled] = await claimed_in(pool, ["cw-a1"])
    await expire(pool, [stalled])
    assert await reaper(pool).reap_abandoned() == 1
    [again] = await ledger.claim_email(SystemClock().now(), 10, timedelta(seconds=60))
    assert again.claim.attempt == stalled.claim.attempt + 1

    assert await ledger.hand_over([stalled.claim]) == set()
    await finish(pool, [(stalled, Finish(stalled.claim, Status.FAILED, "late"))])
    async with PostgresNotificationsUnitOfWork(pool) as uow:
        await uow.deliveries.retry_later([RetryLater(stalled.claim, SystemClock().now(), "late")])
        await uow.commit()

    row = await pool.fetchrow("SELECT * FROM deliveries")
    assert (row["status"], row["attempts"], row["handed_over_at"]) == ("sending", 2, None)
    assert await outcome_events(pool) == []
    assert await ledger.hand_over([again.claim]) == {again.claim.delivery_id}


async def test_a_claim_abandoned_before_handing_over_on_its_last_attempt_fails(pool):
    [row] = await claimed_in(pool, ["cw-a1"])
    await pool.execute("UPDATE deliveries SET attempts = $1", BUDGET.max_attempts)
    await expire(pool, [row])

    assert await reaper(pool).reap_abandoned() == 1

    after = await pool.fetchrow("SELECT * FROM deliveries")
    assert (after["status"], after["last_error"]) == (
        "failed",
        "sender stopped before sending, on the last attempt",
    )
    assert await outcome_events(pool) == [("notification.failed", "cw-a1")]


async def test_the_worker_sees_in_one_query_whether_teams_or_digest_work_is_due(pool):
    ledger, now = PostgresDeliveryLedger(pool), SystemClock().now()
    assert await ledger.due_teams_and_digest(now) == (False, False)
    await claimed_in(pool, ["cw-a1"])  # an email, claimed: neither
    await add(uow_of(pool), new_delivery("cw-a2", at=now + timedelta(hours=1), held=True))
    assert await ledger.due_teams_and_digest(now) == (False, False)  # held, not yet due
    assert await ledger.due_teams_and_digest(now + timedelta(hours=2)) == (False, True)
    await add(uow_of(pool), new_delivery("team-a", channel="teams"))
    assert await ledger.due_teams_and_digest(SystemClock().now()) == (True, False)
