"""Escalation, quiet hours and the webhook rate limit against real Postgres and a real SMTP sink,
with an injected clock: exact times, exactly once."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml

from referral_router.devinfra.procs import free_port, spawn, stop_process, wait_for_http
from services.notifications import postgres
from services.notifications.delivery import deliver
from services.notifications.email import SmtpSender, SmtpSettings
from services.notifications.handlers import on_event
from services.notifications.main import notification_context
from services.notifications.scheduler import escalate_due
from shared import db
from shared.clock import FixedClock
from shared.events import (
    DeadlineEvent,
    Deadlines,
    ReferralAssigned,
    ReferralReceived,
    ReferralUpdated,
    new_envelope,
)
from shared.settings import DatabaseSettings
from shared.unit_config import UnitConfig

REPO = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Europe/Stockholm")
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
FRIDAY_18 = datetime(2026, 11, 20, 18, 0, tzinfo=TZ)
MONDAY_08 = datetime(2026, 11, 23, 8, 0, tzinfo=TZ)


def unit_config() -> UnitConfig:
    raw = yaml.safe_load((REPO / "deploy/config/unit.example.yaml").read_text("utf-8"))
    raw["notifications"] = {"quiet_hours": {"enabled": True}, "escalation": {"after": "PT30M"}}
    return UnitConfig.model_validate(raw)


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
def ctx(clock):
    return notification_context(unit_config(), clock)


def assigned(referral_id: str, at: datetime, *, acute: bool, caseworker: str = "cw-b2"):
    data = ReferralAssigned(
        referral_id=referral_id, family_key=f"f-{referral_id}", team="team-b", caseworker=caseworker,
        reason="rotation", explanation="team team-b on duty", acute_danger=acute, received_at=at,
        deadlines=Deadlines(protection_assessment_due=at + timedelta(hours=7)),
    )  # fmt: skip
    return new_envelope(
        "referral.assigned", data, producer="assignment", correlation_id=referral_id, occurred_at=at
    )


def acknowledged(referral_id: str, at: datetime):
    data = ReferralUpdated(
        referral_id=referral_id, family_key=f"f-{referral_id}", status="acknowledged", at=at
    )
    return new_envelope("referral.acknowledged", data, producer="assignment", correlation_id=referral_id)


async def handle(pool, event, ctx) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await on_event(conn, event, ctx)


async def escalations_to(pool) -> list[tuple[str, datetime]]:
    rows = await pool.fetch(
        "SELECT recipient, created_at FROM deliveries WHERE kind = 'escalation' ORDER BY id"
    )
    return [r["recipient"] for r in rows]


async def escalate_at(pool, ctx, clock, at: datetime) -> int:
    clock.set(at.astimezone(UTC))
    return await escalate_due(pool, ctx)


async def test_an_unacknowledged_acute_referral_goes_to_the_manager_at_30_minutes_then_the_head_at_60(
    pool, ctx, clock
):
    await handle(pool, assigned("R-1", MONDAY_10, acute=True), ctx)
    assert await escalate_at(pool, ctx, clock, MONDAY_10 + timedelta(minutes=29, seconds=59)) == 0
    assert await escalate_at(pool, ctx, clock, MONDAY_10 + timedelta(minutes=30)) == 1
    assert await escalate_at(pool, ctx, clock, MONDAY_10 + timedelta(minutes=30)) == 0
    assert await escalations_to(pool) == ["mgr-b"]
    assert await escalate_at(pool, ctx, clock, MONDAY_10 + timedelta(minutes=59, seconds=59)) == 0
    assert await escalate_at(pool, ctx, clock, MONDAY_10 + timedelta(minutes=60)) == 1
    assert await escalate_at(pool, ctx, clock, MONDAY_10 + timedelta(days=1)) == 0
    assert await escalations_to(pool) == ["mgr-b", "head"]
    subject = await pool.fetchval("SELECT subject FROM deliveries WHERE recipient = 'head'")
    assert subject == "AKUT: Akut ärende ej kvitterat: R-1"


async def test_an_acknowledged_acute_referral_is_never_escalated(pool, ctx, clock):
    await handle(pool, assigned("R-2", MONDAY_10, acute=True), ctx)
    await handle(pool, acknowledged("R-2", MONDAY_10 + timedelta(minutes=10)), ctx)
    assert await escalate_at(pool, ctx, clock, MONDAY_10 + timedelta(hours=3)) == 0
    assert await escalations_to(pool) == []


async def test_an_acknowledgement_that_arrives_before_the_assignment_still_stops_escalation(pool, ctx, clock):
    await handle(pool, acknowledged("R-3", MONDAY_10), ctx)
    await handle(pool, assigned("R-3", MONDAY_10, acute=True), ctx)
    assert await escalate_at(pool, ctx, clock, MONDAY_10 + timedelta(hours=3)) == 0


async def test_a_non_acute_referral_is_never_escalated(pool, ctx, clock):
    await handle(pool, assigned("R-4", MONDAY_10, acute=False), ctx)
    assert await escalate_at(pool, ctx, clock, MONDAY_10 + timedelta(hours=3)) == 0


async def test_non_acute_messages_after_friday_close_wait_for_one_digest_at_monday_eight(
    pool, ctx, clock, smtp_sink
):
    smtp_port, sink = smtp_sink
    clock.set(FRIDAY_18.astimezone(UTC))
    await handle(pool, assigned("R-5", FRIDAY_18, acute=False), ctx)
    await handle(pool, assigned("R-6", FRIDAY_18 + timedelta(hours=20), acute=False), ctx)
    held = await pool.fetch("SELECT held, next_attempt_at FROM deliveries WHERE recipient = 'cw-b2'")
    assert [(r["held"], r["next_attempt_at"]) for r in held] == [(True, MONDAY_08)] * 2

    assert await postgres.claim_digest(pool, MONDAY_08 - timedelta(seconds=1), 60) == []
    rows = await postgres.claim_digest(pool, MONDAY_08, 60)
    assert len(rows) == 2
    sender = SmtpSender(SmtpSettings(port=smtp_port, starttls=False))
    assert await deliver(pool, rows, {"email": sender}, ctx) == "sent"

    async with httpx.AsyncClient() as client:
        mails = (await client.get(f"{sink}/messages", params={"to": "cw-b2@kommun.example"})).json()
    assert [m["subject"] for m in mails] == ["Sammanfattning: 2 meddelanden"]
    assert "Nytt ärende: R-5" in mails[0]["text"] and "Nytt ärende: R-6" in mails[0]["text"]
    statuses = await pool.fetch("SELECT status FROM deliveries WHERE recipient = 'cw-b2'")
    assert [r["status"] for r in statuses] == ["sent", "sent"]
    outcomes = await pool.fetchval("SELECT count(*) FROM outbox WHERE topic = 'notifications.v1'")
    assert outcomes == 2
    channel = await postgres.claim_digest(pool, MONDAY_08, 60)
    assert [(r["recipient"], r["channel"]) for r in channel] == [("team-b", "teams")] * 2
    assert await postgres.claim_digest(pool, MONDAY_08 + timedelta(days=1), 60) == []


async def test_an_acute_referral_outside_office_hours_is_not_held_and_reaches_the_out_of_hours_service(
    pool, ctx, clock
):
    clock.set(FRIDAY_18.astimezone(UTC))
    await handle(pool, assigned("R-7", FRIDAY_18, acute=True, caseworker="cw-b5"), ctx)
    data = ReferralReceived(
        referral_id="R-8", submission_id="s-8", kind="report", channel="e_service", received_at=FRIDAY_18,
        reporter_type="school", reporter_mandatory=True, feedback_requested=False, categories=("neglect",),
        acute_danger=True, protected_identity=False, child_key="c-8", family_key="f-8",
    )  # fmt: skip
    await handle(pool, new_envelope("referral.received", data, producer="intake", correlation_id="R-8"), ctx)
    rows = await pool.fetch("SELECT recipient, held FROM deliveries ORDER BY id")
    assert not any(r["held"] for r in rows)
    assert "socialjour" in {r["recipient"] for r in rows}
    assert {"cw-b5", "cw-b1", "team-b"} <= {r["recipient"] for r in rows}  # caseworker, mentor, channel


async def test_an_acute_referral_in_office_hours_goes_to_intake_but_not_the_out_of_hours_service(pool, ctx):
    data = ReferralReceived(
        referral_id="R-9", submission_id="s-9", kind="report", channel="e_service", received_at=MONDAY_10,
        reporter_type="school", reporter_mandatory=True, feedback_requested=False, categories=("neglect",),
        acute_danger=True, protected_identity=False, child_key="c-9", family_key="f-9",
    )  # fmt: skip
    await handle(pool, new_envelope("referral.received", data, producer="intake", correlation_id="R-9"), ctx)
    rows = await pool.fetch("SELECT recipient FROM deliveries ORDER BY recipient")
    assert [r["recipient"] for r in rows] == ["in-1", "in-2", "in-3", "in-4"]


async def test_a_breached_deadline_goes_to_the_caseworker_and_the_team_manager(pool, ctx):
    data = DeadlineEvent(referral_id="R-10", family_key="f-10", deadline="protection_assessment",
                         due_at=MONDAY_10, team="team-b", caseworker="cw-b2")  # fmt: skip
    event = new_envelope("deadline.breached", data, producer="assignment", correlation_id="R-10")
    await handle(pool, event, ctx)
    await handle(pool, event, ctx)  # the unique key keeps one delivery per recipient
    rows = await pool.fetch("SELECT recipient, subject FROM deliveries ORDER BY recipient")
    assert [(r["recipient"], r["subject"]) for r in rows] == [
        ("cw-b2", "Tidsfrist överskriden – skyddsbedömning: R-10"),
        ("mgr-b", "Tidsfrist överskriden – skyddsbedömning: R-10"),
    ]


async def test_a_teams_webhook_gets_at_most_one_message_per_second_whatever_is_queued(pool, ctx):
    for n in range(3):
        await handle(pool, assigned(f"R-2{n}", MONDAY_10, acute=False), ctx)
    now = MONDAY_10.astimezone(UTC)
    first = await postgres.claim_teams(pool, now, 1.0, 60)
    assert [r["recipient"] for r in first] == ["team-b"]
    assert await postgres.claim_teams(pool, now + timedelta(milliseconds=999), 1.0, 60) == []
    second = await postgres.claim_teams(pool, now + timedelta(seconds=1), 1.0, 60)
    assert len(second) == 1 and second[0]["id"] > first[0]["id"]
