"""Escalation, quiet hours and the webhook rate limit against real Postgres and a real SMTP sink,
with an injected clock: exact times, exactly once."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from referral_router.devinfra.procs import free_port, spawn, stop_process, wait_for_http
from services.notifications.adapters.postgres import PostgresNotificationsUnitOfWork
from services.notifications.adapters.postgres_deliveries import PostgresDeliveryLedger
from services.notifications.adapters.smtp import SmtpSender, SmtpSettings
from services.notifications.domain.delivery import Status
from services.notifications.handlers.escalations import escalate_due
from shared import db
from shared.clock import FixedClock
from shared.settings import DatabaseSettings
from tests.notifications_support import (
    FRIDAY_18,
    LEASE,
    MONDAY_08,
    MONDAY_10,
    REPO,
    acknowledged,
    assigned,
    breached,
    consume,
    courier,
    example_unit,
    in_unit_of_work,
    received,
)


@pytest.fixture(scope="module")
def smtp_sink(tmp_path_factory) -> Iterator[tuple[int, str]]:
    smtp_port, http_port = free_port(), free_port()
    argv = [sys.executable, "-m", "referral_router.devinfra.smtp_sink", "--smtp-port", str(smtp_port),
            "--http-port", str(http_port)]  # fmt: skip
    proc = spawn("smtp-sink", argv, tmp_path_factory.mktemp("smtp") / "sink.log", cwd=REPO)
    try:
        wait_for_http(f"http://127.0.0.1:{http_port}/healthz", 20, proc=proc)
        yield smtp_port, f"http://127.0.0.1:{http_port}"
    finally:
        stop_process(proc)


@pytest.fixture
async def pool(database_url):
    pool = await db.create_pool(DatabaseSettings(url=database_url), "notifications")
    await db.apply_migrations(pool, "notifications", "services.notifications.migrations")
    yield pool
    await pool.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY_10.astimezone(UTC))


@pytest.fixture
def unit():
    return example_unit()


def uow_of(pool):
    return lambda: PostgresNotificationsUnitOfWork(pool)


async def handle(pool, event, unit, clock) -> None:
    await consume(uow_of(pool), [event], unit, clock)


async def escalations_to(pool) -> list[tuple[str, datetime]]:
    rows = await pool.fetch(
        "SELECT recipient, created_at FROM deliveries WHERE kind = 'escalation' ORDER BY id"
    )
    return [r["recipient"] for r in rows]


async def escalate_at(pool, unit, clock, at: datetime) -> int:
    clock.set(at.astimezone(UTC))
    return await escalate_due(uow_of(pool), unit, clock)


async def claim_digest(pool, at: datetime):
    return await in_unit_of_work(uow_of(pool), lambda uow: uow.deliveries.claim_digest(at, LEASE))


async def claim_teams(pool, at: datetime, gap_s: float):
    return await in_unit_of_work(
        uow_of(pool), lambda uow: uow.deliveries.claim_teams(at, timedelta(seconds=gap_s), LEASE)
    )


async def test_an_unacknowledged_acute_referral_goes_to_the_manager_at_30_minutes_then_the_head_at_60(
    pool, unit, clock
):
    await handle(pool, assigned("R-1", MONDAY_10, acute=True), unit, clock)
    assert await escalate_at(pool, unit, clock, MONDAY_10 + timedelta(minutes=29, seconds=59)) == 0
    assert await escalate_at(pool, unit, clock, MONDAY_10 + timedelta(minutes=30)) == 1
    assert await escalate_at(pool, unit, clock, MONDAY_10 + timedelta(minutes=30)) == 0
    assert await escalations_to(pool) == ["mgr-b"]
    assert await escalate_at(pool, unit, clock, MONDAY_10 + timedelta(minutes=59, seconds=59)) == 0
    assert await escalate_at(pool, unit, clock, MONDAY_10 + timedelta(minutes=60)) == 1
    assert await escalate_at(pool, unit, clock, MONDAY_10 + timedelta(days=1)) == 0
    assert await escalations_to(pool) == ["mgr-b", "head"]
    subject = await pool.fetchval("SELECT subject FROM deliveries WHERE recipient = 'head'")
    assert subject == "AKUT: Akut ärende ej kvitterat: R-1"


async def test_an_acknowledged_acute_referral_is_never_escalated(pool, unit, clock):
    await handle(pool, assigned("R-2", MONDAY_10, acute=True), unit, clock)
    await handle(pool, acknowledged("R-2", MONDAY_10 + timedelta(minutes=10)), unit, clock)
    assert await escalate_at(pool, unit, clock, MONDAY_10 + timedelta(hours=3)) == 0
    assert await escalations_to(pool) == []


async def test_an_acknowledgement_that_arrives_before_the_assignment_still_stops_escalation(
    pool, unit, clock
):
    await handle(pool, acknowledged("R-3", MONDAY_10), unit, clock)
    await handle(pool, assigned("R-3", MONDAY_10, acute=True), unit, clock)
    assert await escalate_at(pool, unit, clock, MONDAY_10 + timedelta(hours=3)) == 0


async def test_a_non_acute_referral_is_never_escalated(pool, unit, clock):
    await handle(pool, assigned("R-4", MONDAY_10, acute=False), unit, clock)
    assert await escalate_at(pool, unit, clock, MONDAY_10 + timedelta(hours=3)) == 0


async def test_non_acute_messages_after_friday_close_wait_for_one_digest_at_monday_eight(
    pool, unit, clock, smtp_sink
):
    smtp_port, sink = smtp_sink
    clock.set(FRIDAY_18.astimezone(UTC))
    await handle(pool, assigned("R-5", FRIDAY_18, acute=False), unit, clock)
    await handle(pool, assigned("R-6", FRIDAY_18 + timedelta(hours=20), acute=False), unit, clock)
    held = await pool.fetch("SELECT held, next_attempt_at FROM deliveries WHERE recipient = 'cw-b2'")
    assert [(r["held"], r["next_attempt_at"]) for r in held] == [(True, MONDAY_08)] * 2

    assert await claim_digest(pool, MONDAY_08 - timedelta(seconds=1)) == []
    rows = await claim_digest(pool, MONDAY_08)
    assert len(rows) == 2
    sender = SmtpSender(SmtpSettings(port=smtp_port, starttls=False))
    sending = courier(PostgresDeliveryLedger(pool), uow_of(pool), {"email": sender}, unit, clock)
    assert await sending.send([rows]) == [Status.SENT]

    async with httpx.AsyncClient() as client:
        mails = (await client.get(f"{sink}/messages", params={"to": "cw-b2@kommun.example"})).json()
    assert [m["subject"] for m in mails] == ["Sammanfattning: 2 meddelanden"]
    assert "Nytt ärende: R-5" in mails[0]["text"] and "Nytt ärende: R-6" in mails[0]["text"]
    statuses = await pool.fetch("SELECT status FROM deliveries WHERE recipient = 'cw-b2'")
    assert [r["status"] for r in statuses] == ["sent", "sent"]
    outcomes = await pool.fetchval("SELECT count(*) FROM outbox WHERE topic = 'notifications.v1'")
    assert outcomes == 2
    channel = await claim_digest(pool, MONDAY_08)
    assert [(r.recipient, r.channel) for r in channel] == [("team-b", "teams")] * 2
    assert await claim_digest(pool, MONDAY_08 + timedelta(days=1)) == []


async def test_an_acute_referral_outside_office_hours_is_not_held_and_reaches_the_out_of_hours_service(
    pool, unit, clock
):
    clock.set(FRIDAY_18.astimezone(UTC))
    await handle(pool, assigned("R-7", FRIDAY_18, acute=True, caseworker="cw-b5"), unit, clock)
    await handle(pool, received("R-8", FRIDAY_18, acute=True), unit, clock)
    rows = await pool.fetch("SELECT recipient, held FROM deliveries ORDER BY id")
    assert not any(r["held"] for r in rows)
    assert "socialjour" in {r["recipient"] for r in rows}
    assert {"cw-b5", "cw-b1", "team-b"} <= {r["recipient"] for r in rows}  # caseworker, mentor, channel


async def test_an_acute_referral_in_office_hours_goes_to_intake_but_not_the_out_of_hours_service(
    pool, unit, clock
):
    await handle(pool, received("R-9", MONDAY_10, acute=True), unit, clock)
    rows = await pool.fetch("SELECT recipient FROM deliveries ORDER BY recipient")
    assert [r["recipient"] for r in rows] == ["in-1", "in-2", "in-3", "in-4"]


async def test_a_breached_deadline_goes_to_the_caseworker_and_the_team_manager(pool, unit, clock):
    event = breached("R-10", MONDAY_10)
    await handle(pool, event, unit, clock)
    await handle(pool, event, unit, clock)  # the unique key keeps one delivery per recipient
    rows = await pool.fetch("SELECT recipient, subject FROM deliveries ORDER BY recipient")
    assert [(r["recipient"], r["subject"]) for r in rows] == [
        ("cw-b2", "Tidsfrist överskriden – skyddsbedömning: R-10"),
        ("mgr-b", "Tidsfrist överskriden – skyddsbedömning: R-10"),
    ]


async def test_a_teams_webhook_gets_at_most_one_message_per_second_whatever_is_queued(pool, unit, clock):
    for n in range(3):
        await handle(pool, assigned(f"R-2{n}", MONDAY_10, acute=False), unit, clock)
    now = MONDAY_10.astimezone(UTC)
    first = await claim_teams(pool, now, 1.0)
    assert [r.recipient for r in first] == ["team-b"]
    assert await claim_teams(pool, now + timedelta(milliseconds=999), 1.0) == []
    second = await claim_teams(pool, now + timedelta(seconds=1), 1.0)
    assert len(second) == 1 and second[0].claim.delivery_id > first[0].claim.delivery_id
