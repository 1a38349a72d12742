"""The monthly access-log review's use case (services/intake/handlers/access_review.py) on fakes:
the month's rows by local month, the event on the first office day, once per month whatever runs."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

from services.intake import timers
from services.intake.access_review_config import AccessReviewSettings, access_reviewing
from services.intake.adapters.memory import InMemoryIntakeUnitOfWork, IntakeTables
from services.intake.domain.access_log import AccessAction, AccessRelation, LoggedEntry, Outcome
from services.intake.domain.access_review import STOCKHOLM, ReviewRules
from services.intake.handlers.access_review import AccessReviewing, review_event_id, send_due_review
from shared.clock import FixedClock
from shared.events import TOPIC_ACCESS, AccessReview, parse_event
from shared.office_days import swedish_holidays
from shared.unit_config import load_unit_config
from tests.unit.test_intake_access_review import row, seeded_month

# 2 February 2026, a Monday, is February's first office day.
FIRST_OFFICE_MORNING = datetime(2026, 2, 2, 8, 0, tzinfo=STOCKHOLM)
RULES = ReviewRules(volume_floor=10)
A, DENIED = AccessAction, Outcome.DENIED


def reviewing(tables: IntakeTables) -> AccessReviewing:
    return AccessReviewing(lambda: InMemoryIntakeUnitOfWork(tables), "head", RULES, swedish_holidays())


def published(tables: IntakeTables) -> list[AccessReview]:
    reviews = []
    for _, topic, key, payload in tables.outbox:
        assert topic == TOPIC_ACCESS
        assert key == b"access-review"
        envelope = parse_event(payload, topic=TOPIC_ACCESS)
        assert envelope.event_type == "access.review"
        reviews.append(envelope.data)
    return reviews


def with_log(rows: list[LoggedEntry]) -> IntakeTables:
    """Intake's fake tables with these access-log rows (the review reads them, never chains them)."""
    return IntakeTables(access_log=rows)


def seeded_log() -> IntakeTables:
    # Rows of December and February in local time, on either side of January in UTC.
    return with_log([
        row("cw-z", "R-Z1", datetime(2025, 12, 31, 22, 59, tzinfo=UTC), A.DENIED, outcome=DENIED),
        *seeded_month(),
        row("cw-z", "R-Z2", datetime(2026, 1, 31, 23, 0, tzinfo=UTC), A.DENIED, outcome=DENIED),
    ])  # fmt: skip


async def test_on_the_first_office_day_last_months_review_goes_to_the_head_of_unit() -> None:
    tables = seeded_log()

    assert await send_due_review(reviewing(tables), FIRST_OFFICE_MORNING) == "2026-01"

    [review] = published(tables)
    assert review.month == "2026-01"
    assert review.head_of_unit == "head"
    assert review.entries == len(seeded_month())  # December's and February's rows left out
    assert [(f.kind, f.staff, f.count) for f in review.findings] == [
        ("break_glass", "cw-b1", 1),
        ("denied", "cw-c1", 2),
        ("outside_assignments", "head", 1),
        ("outside_office_hours", "cw-a3", 3),
        ("unusual_volume", "in-1", 11),
    ]
    assert tables.outbox[0][0] == review_event_id("2026-01", FIRST_OFFICE_MORNING)
    (sent,) = tables.access_reviews.values()
    assert (sent.month, sent.sent_at, sent.entries) == ("2026-01", FIRST_OFFICE_MORNING, review.entries)
    assert (sent.chain_seq, sent.chain_hash) == (review.chain_seq, review.chain_hash)
    assert sent.findings == dict.fromkeys(
        ("break_glass", "denied", "outside_assignments", "outside_office_hours", "unusual_volume"), 1
    )


async def test_nothing_is_sent_before_office_start_on_the_first_office_day() -> None:
    tables = seeded_log()
    assert await send_due_review(reviewing(tables), datetime(2026, 2, 2, 7, 59, tzinfo=STOCKHOLM)) is None
    assert tables.outbox == []


async def test_a_month_is_reviewed_once_across_restarts_and_instances() -> None:
    tables = seeded_log()
    later = datetime(2026, 2, 10, 9, 0, tzinfo=STOCKHOLM)

    sent = await asyncio.gather(*(send_due_review(reviewing(tables), FIRST_OFFICE_MORNING) for _ in range(3)))
    again = await send_due_review(reviewing(tables), later)

    assert sorted(sent, key=str) == ["2026-01", None, None]
    assert again is None
    assert len(published(tables)) == 1


async def test_a_quiet_month_is_reviewed_too_with_no_findings() -> None:
    tables = with_log(
        [row("cw-a1", "R-1", datetime(2026, 1, 7, 9, tzinfo=STOCKHOLM), relation=AccessRelation.ASSIGNED)]
    )

    await send_due_review(reviewing(tables), FIRST_OFFICE_MORNING)

    newest = tables.access_log[-1]
    assert published(tables) == [
        AccessReview(
            month="2026-01",
            head_of_unit="head",
            entries=1,
            findings=(),
            chain_seq=newest.seq,
            chain_hash=newest.hash.hex(),
        )
    ]


async def test_the_review_anchors_the_newest_row_of_the_whole_log_not_of_the_month() -> None:
    tables = seeded_log()
    newest = tables.access_log[-1]  # a February row: after the month reviewed

    await send_due_review(reviewing(tables), FIRST_OFFICE_MORNING)

    [review] = published(tables)
    assert (review.chain_seq, review.chain_hash) == (newest.seq, newest.hash.hex())


def test_the_review_goes_to_the_unit_files_head_with_its_office_hours_and_the_set_thresholds() -> None:
    unit = load_unit_config(Path(__file__).resolve().parents[2] / "deploy/config/unit.example.yaml")
    settings = AccessReviewSettings(volume_floor=60, volume_factor=2.5)

    made = access_reviewing(lambda: InMemoryIntakeUnitOfWork(IntakeTables()), unit, settings)

    assert made.head_of_unit == unit.head_of_unit.id == "head"
    assert (made.rules.office_start, made.rules.office_end) == (
        unit.office_hours.start,
        unit.office_hours.end,
    )
    assert (made.rules.volume_floor, made.rules.volume_factor) == (60, 2.5)
    assert date(2026, 6, 19) in made.holidays  # Midsummer Eve


async def test_the_timer_sends_the_review_after_the_database_comes_back() -> None:
    tables, attempts = seeded_log(), []

    def unit_of_work() -> InMemoryIntakeUnitOfWork:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionRefusedError("database away")
        return InMemoryIntakeUnitOfWork(tables)

    made = AccessReviewing(unit_of_work, "head", RULES, swedish_holidays())
    loop = asyncio.create_task(timers.review_access_log(made, FixedClock(FIRST_OFFICE_MORNING), 0.001))
    try:
        async with asyncio.timeout(5):
            while len(attempts) < 4:
                await asyncio.sleep(0.001)
    finally:
        loop.cancel()

    assert [r.month for r in published(tables)] == ["2026-01"]


async def test_a_month_that_ended_before_the_logs_first_row_is_not_reviewed() -> None:
    empty, later = (
        IntakeTables(),
        with_log([row("cw-a1", "R-1", datetime(2026, 2, 1, 0, 0, tzinfo=STOCKHOLM))]),
    )

    assert await send_due_review(reviewing(empty), FIRST_OFFICE_MORNING) is None
    assert await send_due_review(reviewing(later), FIRST_OFFICE_MORNING) is None

    assert empty.outbox == later.outbox == [] and empty.access_reviews == later.access_reviews == {}
