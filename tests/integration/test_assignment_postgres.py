"""Assignment against real Postgres: continuity, absences, lifecycle and exactly-once schedules."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, date, datetime, timedelta

import pytest

from services.assignment.adapters.postgres import PostgresAssignmentUnitOfWork
from services.assignment.adapters.postgres_schedules import OPEN_DEADLINES_SQL
from services.assignment.domain.access import Actor
from services.assignment.domain.cases import CaseAction
from services.assignment.domain.errors import InvalidTransition
from services.assignment.domain.registration import Registration
from services.assignment.handlers.cases import act_on_case
from services.assignment.handlers.feedback import FeedbackNews, record_feedback_news
from services.assignment.handlers.registration import record_registrations
from services.assignment.handlers.scheduled import announce_on_duty, emit_scheduled_events, event_id
from services.assignment.timers import scan_for_scheduled_events
from shared import db
from shared.clock import FixedClock
from shared.settings import DatabaseSettings
from tests.assignment_support import UNIT, assign, local, migrated_pool, received
from tests.helpers import eventually

MONDAY = local(2026, 10, 5, 10, 0)  # team-b on duty
HEAD = Actor("head", frozenset({"head_of_unit"}))  # may act on any referral, whichever team has it


class Scheduler:
    """What the assignment process's timer does at each scan, on a pool, with a clock."""

    def __init__(self, pool, clock) -> None:
        self.pool, self.clock = pool, clock

    async def scan_once(self) -> int:
        return await emit_scheduled_events(
            lambda: PostgresAssignmentUnitOfWork(self.pool), UNIT, self.clock.now()
        )


@pytest.fixture
async def pool(database_url):
    pool = await migrated_pool(database_url)
    yield pool
    await pool.close()


async def outbox_types(pool) -> list[str]:
    rows = await pool.fetch(
        "SELECT convert_from(payload, 'UTF8')::jsonb->>'event_type' AS t FROM outbox ORDER BY id"
    )
    return [r["t"] for r in rows]


async def test_a_referral_goes_to_the_team_on_duty_with_period_source_and_explanation(pool):
    row = await assign(pool, received("R-1", at=MONDAY))
    assert (row["team"], row["reason"], row["source"]) == ("team-b", "rotation", "rotation")
    assert row["period_start"] == local(2026, 9, 28, 8, 0) and row["period_end"] == local(2026, 10, 12, 8, 0)
    assert "team team-b on duty" in row["explanation"] and "most spare capacity" in row["explanation"]
    assert await outbox_types(pool) == ["referral.assigned"]


async def test_siblings_and_a_repeat_referral_stay_with_the_same_caseworker(pool):
    first = await assign(pool, received("R-1", at=MONDAY, child="c-1", family="f-1"))
    for n in range(2, 8):
        await assign(pool, received(f"R-x{n}", at=MONDAY))
    sibling = await assign(pool, received("R-2", at=MONDAY, child="c-2", family="f-1"))
    assert sibling["caseworker"] == first["caseworker"] and sibling["reason"] == "continuity"
    later = local(2026, 11, 10, 10, 0)  # another team is on duty by then
    repeat = await assign(pool, received("R-3", at=later, child="c-1", family="f-9"))
    assert (repeat["team"], repeat["caseworker"], repeat["reason"]) == (
        first["team"],
        first["caseworker"],
        "continuity",
    )


async def test_nobody_absent_gets_a_referral_and_an_empty_team_goes_to_its_manager(pool):
    away = [f"cw-b{i}" for i in range(1, 6)]
    for staff in away:
        await pool.execute(
            "INSERT INTO absences (staff_id, starts_on, ends_on, kind, created_by)"
            " VALUES ($1, $2, $2, 'sick', 't')",
            staff,
            date(2026, 10, 5),
        )
    rows = [await assign(pool, received(f"R-{n}", at=MONDAY)) for n in range(3)]
    assert {r["caseworker"] for r in rows} == {"cw-b6"}
    await pool.execute(
        "INSERT INTO absences (staff_id, starts_on, ends_on, kind, created_by)"
        " VALUES ('cw-b6', $1, $1, 'leave', 't')",
        date(2026, 10, 5),
    )
    fallback = await assign(pool, received("R-9", at=MONDAY))
    assert fallback["caseworker"] == "mgr-b" and "nobody in team team-b" in fallback["explanation"]


async def test_an_override_in_the_database_beats_the_rotation(pool):
    await pool.execute(
        "INSERT INTO rotation_overrides (team, starts_at, ends_at, reason, created_by)"
        " VALUES ('team-c', $1, $2, 'x', 't')",
        MONDAY - timedelta(hours=1),
        MONDAY + timedelta(hours=1),
    )
    row = await assign(pool, received("R-1", at=MONDAY))
    assert (row["team"], row["reason"], row["source"]) == ("team-c", "override", "override")


async def act(pool, referral_id: str, action: CaseAction, now):
    await act_on_case(PostgresAssignmentUnitOfWork(pool), UNIT, referral_id, action, now)


async def test_the_case_lifecycle_records_due_times_extensions_and_refuses_wrong_steps(pool):
    await assign(pool, received("R-1", at=local(2026, 8, 28, 10, 0), feedback=True))
    opened = local(2026, 8, 31, 11, 0)
    await act(pool, "R-1", CaseAction("decision", HEAD, opened, decision="open_investigation"), opened)
    row = await pool.fetchrow("SELECT * FROM assignments WHERE referral_id = 'R-1'")
    assert row["status"] == "investigating"
    assert row["investigation_due"] == local(2026, 12, 31, 23, 59, 59)
    assert row["feedback_due"] == local(2026, 9, 7, 23, 59, 59)
    with pytest.raises(InvalidTransition):  # 409 at the staff API
        await act(pool, "R-1", CaseAction("decision", HEAD, opened, decision="no_investigation"), opened)
    extend = CaseAction("extend", HEAD, local(2026, 12, 20, 9), until=date(2027, 2, 15), reason="r")
    await act(pool, "R-1", extend, local(2026, 12, 20, 9))
    ext = await pool.fetchrow("SELECT * FROM investigation_extensions WHERE referral_id = 'R-1'")
    assert (ext["decided_on"], ext["decided_by"], ext["new_due"]) == (
        date(2026, 12, 20),
        "head",
        local(2027, 2, 15, 23, 59, 59),
    )
    await act(pool, "R-1", CaseAction("close", HEAD, local(2027, 1, 10, 9)), local(2027, 1, 10, 9))
    assert await outbox_types(pool) == [
        "referral.assigned",
        "referral.decided",
        "investigation.extended",
        "investigation.closed",
    ]


async def test_a_refused_action_stores_nothing(pool):
    await assign(pool, received("R-1", at=MONDAY))
    with pytest.raises(InvalidTransition):
        await act(pool, "R-1", CaseAction("close", HEAD, MONDAY), MONDAY)
    row = await pool.fetchrow("SELECT status, closed_at FROM assignments WHERE referral_id = 'R-1'")
    assert (row["status"], row["closed_at"]) == ("assigned", None)
    assert await outbox_types(pool) == ["referral.assigned"]


async def deadline_events(pool) -> list[tuple[str, str, int | None]]:
    rows = await pool.fetch(
        "SELECT p->>'event_type' AS t, p->'data'->>'deadline' AS d, (p->'data'->>'lead_seconds')::int AS lead"
        " FROM (SELECT convert_from(payload, 'UTF8')::jsonb AS p, id FROM outbox) o"
        " WHERE p->>'event_type' LIKE 'deadline.%' ORDER BY id"
    )
    return [(r["t"], r["d"], r["lead"]) for r in rows]


async def register(pool, *referral_ids: str, at: datetime) -> None:
    """Intake registered the referrals: their registration clocks stop (the statutory ones alone
    are then watched)."""
    async with PostgresAssignmentUnitOfWork(pool) as uow:
        await record_registrations(uow, [Registration(r, at, "in-1") for r in referral_ids])
        await uow.commit()


async def test_deadline_reminders_and_breaches_are_emitted_exactly_once_with_an_injected_clock(pool):
    received_at = local(2026, 10, 20, 10, 0)  # protection due 17:00, preliminary 3 Nov 23:59:59
    await assign(pool, received("R-1", at=received_at))
    await register(pool, "R-1", at=received_at)
    clock = FixedClock(received_at)
    schedulers = [Scheduler(pool, clock), Scheduler(pool, clock)]
    preliminary_due = local(2026, 11, 3, 23, 59, 59)
    steps = [
        local(2026, 10, 20, 15, 0),  # two hours before the protection assessment is due
        local(2026, 10, 20, 17, 0),  # protection assessment breached
        preliminary_due - timedelta(days=3),
        preliminary_due - timedelta(days=1),
    ]
    for moment in steps:
        clock.set(moment)
        await asyncio.gather(*(s.scan_once() for s in schedulers))  # two instances at once
        await schedulers[0].scan_once()  # and once more: nothing new
    decided = preliminary_due - timedelta(hours=5)
    await act(pool, "R-1", CaseAction("decision", HEAD, decided, decision="no_investigation"), decided)
    clock.set(preliminary_due + timedelta(days=2))
    await schedulers[0].scan_once()
    assert await deadline_events(pool) == [
        ("deadline.approaching", "protection_assessment", 7200),
        ("deadline.breached", "protection_assessment", None),
        ("deadline.approaching", "preliminary_assessment", 259200),
        ("deadline.approaching", "preliminary_assessment", 86400),
    ]


async def test_an_unmet_preliminary_assessment_is_breached_once(pool):
    await assign(pool, received("R-1", at=local(2026, 10, 20, 10, 0)))
    clock = FixedClock(local(2026, 11, 4, 0, 0))
    scheduler = Scheduler(pool, clock)
    await scheduler.scan_once()
    clock.set(local(2026, 11, 20))
    await scheduler.scan_once()
    events = await deadline_events(pool)
    assert events.count(("deadline.breached", "preliminary_assessment", None)) == 1
    assert not [e for e in events if e[0] == "deadline.approaching" and e[1] == "preliminary_assessment"]


async def test_a_handover_is_emitted_once_per_boundary_by_concurrent_schedulers(pool):
    clock = FixedClock(local(2026, 1, 19, 8, 0, 30))
    schedulers = [Scheduler(pool, clock) for _ in range(3)]
    await asyncio.gather(*(s.scan_once() for s in schedulers))
    clock.set(local(2026, 1, 19, 12, 0))
    await schedulers[0].scan_once()
    rows = await pool.fetch("SELECT event_id, convert_from(payload, 'UTF8') AS p FROM outbox ORDER BY id")
    handovers = [json.loads(r["p"])["data"] for r in rows]
    assert len(handovers) == 1
    assert (handovers[0]["from_team"], handovers[0]["to_team"]) == ("team-a", "team-b")
    assert datetime.fromisoformat(handovers[0]["at"]) == local(2026, 1, 19, 8, 0)
    assert datetime.fromisoformat(handovers[0]["next_handover_at"]) == local(2026, 2, 2, 8, 0)
    assert rows[0]["event_id"] == event_id("handover", local(2026, 1, 19, 8, 0).astimezone(UTC).isoformat())


async def test_the_timer_announces_the_team_on_duty_as_soon_as_it_starts(pool):
    clock = FixedClock(local(2026, 1, 27, 10, 0))  # team-b on duty since 19 January 08:00
    timer = asyncio.create_task(  # an hour between scans: only the start can announce anything
        scan_for_scheduled_events(lambda: PostgresAssignmentUnitOfWork(pool), UNIT, clock, 3600)
    )
    try:
        await eventually(lambda: outbox_types(pool), lambda types: types == ["rotation.on_duty"])
    finally:
        timer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timer
    payload = await pool.fetchval("SELECT convert_from(payload, 'UTF8') FROM outbox")
    data = json.loads(payload)["data"]
    assert (data["from_team"], data["to_team"]) == ("team-a", "team-b")
    assert datetime.fromisoformat(data["at"]) == local(2026, 1, 19, 8, 0)


async def test_instances_starting_together_and_restarts_announce_the_team_on_duty_once(pool):
    now = local(2026, 1, 27, 10, 0)
    announced = await asyncio.gather(
        *(announce_on_duty(PostgresAssignmentUnitOfWork(pool), UNIT, now) for _ in range(3))
    )
    assert sorted(announced) == [0, 0, 1]
    assert await announce_on_duty(PostgresAssignmentUnitOfWork(pool), UNIT, now + timedelta(days=2)) == 0
    assert await outbox_types(pool) == ["rotation.on_duty"]


async def test_feedback_to_the_reporter_meets_its_clock_and_no_alert_follows(pool):
    await assign(pool, received("R-1", at=local(2026, 8, 28, 10, 0), feedback=True))
    decided = local(2026, 8, 31, 11, 0)
    await act(pool, "R-1", CaseAction("decision", HEAD, decided, decision="no_investigation"), decided)
    due = local(2026, 9, 7, 23, 59, 59)
    clock = FixedClock(due - timedelta(days=2))
    await Scheduler(pool, clock).scan_once()
    # Intake's `reporter_feedback.sent`, as assignment's consumer applies it (the only path).
    async with PostgresAssignmentUnitOfWork(pool) as uow:
        await record_feedback_news(uow, UNIT, [FeedbackNews("R-1", "sent", due - timedelta(days=1))])
        await uow.commit()
    clock.set(due + timedelta(days=3))
    await Scheduler(pool, clock).scan_once()
    feedback = [e for e in await deadline_events(pool) if e[1] == "reporter_feedback"]
    assert feedback == [("deadline.approaching", "reporter_feedback", 259200)]


async def test_a_scan_opens_a_transaction_only_for_a_clock_with_an_alert_due(database_url):
    """Every open clock within the longest lead is read in one query with the alerts it already
    had; before, each one cost a transaction of its own on every scan, due or not."""
    pool = await db.create_pool(
        DatabaseSettings(url=database_url, min_pool_size=1, max_pool_size=1), "assignment"
    )
    try:
        await db.apply_migrations(pool, "assignment", "services.assignment.migrations")
        received_at = local(2026, 10, 20, 10, 0)  # protection assessment due 17:00, reminder 15:00
        for n in range(30):
            await assign(pool, received(f"R-{n}", at=received_at))
        await register(pool, *[f"R-{n}" for n in range(30)], at=received_at)
        sent: list[str] = []
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda q: sent.append(q.query))
        clock = FixedClock(received_at + timedelta(minutes=5))
        scheduler = Scheduler(pool, clock)

        assert await scheduler.scan_once() == 0  # 30 clocks open and near, none due
        assert sent.count(OPEN_DEADLINES_SQL) == 1
        assert not [q for q in sent if "deadline_alerts" in q and q != OPEN_DEADLINES_SQL]

        sent.clear()
        clock.set(local(2026, 10, 20, 15, 0))
        assert await scheduler.scan_once() == 30  # every reminder, each in its own transaction
        assert len([q for q in sent if q.startswith("INSERT INTO deadline_alerts")]) == 30
        sent.clear()
        assert await scheduler.scan_once() == 0
        assert not [q for q in sent if q.startswith("INSERT INTO deadline_alerts")]
    finally:
        await pool.close()


async def test_the_scan_can_read_each_clock_from_its_partial_index(pool):
    """Closed history is not scanned: each branch of the scan matches its index's predicate."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {OPEN_DEADLINES_SQL}", MONDAY))
    assert "Seq Scan on assignments" not in plan
    for index in (
        "protection_open",
        "preliminary_open",
        "investigation_open",
        "feedback_open",
        "registration_open",
    ):
        assert f"assignments_{index}" in plan
