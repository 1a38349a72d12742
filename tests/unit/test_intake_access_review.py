"""The monthly access-log review's rules (services/intake/domain/access_review.py), pure.

The seeded month (January 2026, Epiphany on Tuesday 6 January, New Year's Day on a Thursday)
makes each rule fire for exactly one person and stay quiet for everyone else, with the edges a
person would get wrong: 08:00 sharp (inside) and 17:00 sharp (outside), a holiday on a weekday,
the first minutes of the month in local time (still 31 December in UTC), a volume exactly at the
bound, a refused attempt at night (refused, not an access out of hours).
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from itertools import count

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.domain.access_log import AccessAction, AccessEntry, AccessRelation, LoggedEntry, Outcome
from services.intake.domain.access_review import (
    KINDS,
    STOCKHOLM,
    Finding,
    ReviewRules,
    first_office_day,
    month_bounds,
    month_due_for_review,
    month_of,
    review_findings,
)
from shared.office_days import swedish_holidays

HOLIDAYS = swedish_holidays()
RULES = ReviewRules(volume_floor=10, volume_factor=3.0)
_seq = count(1)

A, R, OUT = AccessAction, AccessRelation, Outcome


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=STOCKHOLM)  # type: ignore[misc]


def row(
    staff: str,
    referral: str,
    at: datetime,
    action: AccessAction = A.READ,
    relation: AccessRelation = R.ASSIGNED,
    outcome: Outcome = OUT.ALLOWED,
) -> LoggedEntry:
    entry = AccessEntry(
        at=at.astimezone(UTC), staff=staff, role="caseworker", relation=relation, referral_id=referral,
        child_key="ck-1", action=action, reason=None, outcome=outcome, client_addr=None, request_id=None,
    )  # fmt: skip
    return LoggedEntry(next(_seq), entry, b"\0" * 32, b"\1" * 32)


def at_hour(day: date, hour: int) -> datetime:
    return local(day.year, day.month, day.day, hour)


def office_days_of_january() -> list[date]:
    days = [date(2026, 1, d) for d in range(1, 32)]
    return [d for d in days if d.weekday() < 5 and d not in HOLIDAYS]


def seeded_month() -> list[LoggedEntry]:
    """January 2026 as the log holds it."""
    office = office_days_of_january()
    rows = [
        # cw-a1: own referrals, at 08:00 sharp and a second before 17:00: nothing to say.
        row("cw-a1", "R-A1", local(2026, 1, 7, 8, 0)),
        row("cw-a1", "R-A1", local(2026, 1, 7, 16, 59, 59), A.EXPORT),
        row("cw-a1", "R-A2", local(2026, 1, 8, 10, 0), A.ATTACHMENT),
        # cw-a2 (mentor) and mgr-a (manager of the team): their own caseworkers' referrals.
        row("cw-a2", "R-A1", local(2026, 1, 9, 9, 0), relation=R.MENTOR),
        row("mgr-a", "R-A2", local(2026, 1, 12, 9, 0), A.REVEAL, R.TEAM_MANAGER),
        # cw-b1 broke the glass once (and read nothing under it in this month).
        row("cw-b1", "R-B1", local(2026, 1, 14, 10, 0), A.BREAK_GLASS, R.BREAK_GLASS),
        # cw-c1 was refused twice, once at night: refused, not an access out of hours.
        row("cw-c1", "R-C2", local(2026, 1, 15, 11, 0), A.DENIED, R.NONE, OUT.DENIED),
        row("cw-c1", "R-C1", local(2026, 1, 17, 2, 0), A.DENIED, R.NONE, OUT.DENIED),
        # head read a referral outside any assignment, by right of office.
        row("head", "R-H1", local(2026, 1, 20, 13, 0), relation=R.HEAD_OF_UNIT),
        # cw-a3: 00:30 on New Year's Day (31 December in UTC), 17:00 sharp, Epiphany at 10:00.
        row("cw-a3", "R-N1", local(2026, 1, 1, 0, 30)),
        row("cw-a3", "R-N2", local(2026, 1, 8, 17, 0)),
        row("cw-a3", "R-N3", local(2026, 1, 6, 10, 0)),
        row("cw-a3", "R-N3", local(2026, 1, 5, 12, 0)),  # a Monday: inside
    ]
    # in-1 read eleven referrals (above the floor of ten; the median is far below), in-2 exactly ten.
    rows += [row("in-1", f"R-I{n:02d}", at_hour(office[n], 9), relation=R.INTAKE) for n in range(11)]
    rows += [row("in-2", f"R-J{n:02d}", at_hour(office[n], 14), relation=R.INTAKE) for n in range(10)]
    return rows


def test_a_seeded_month_names_exactly_the_expected_findings() -> None:
    assert review_findings(seeded_month(), RULES, HOLIDAYS) == [
        Finding("break_glass", "cw-b1", 1, ("R-B1",)),
        Finding("denied", "cw-c1", 2, ("R-C1", "R-C2")),
        Finding("outside_assignments", "head", 1, ("R-H1",)),
        Finding("outside_office_hours", "cw-a3", 3, ("R-N1", "R-N2", "R-N3")),
        Finding("unusual_volume", "in-1", 11, tuple(f"R-I{n:02d}" for n in range(11))),
    ]


def test_the_seeded_month_starts_in_last_years_utc_december() -> None:
    start, end = month_bounds("2026-01")
    assert start == datetime(2025, 12, 31, 23, tzinfo=UTC)
    assert end == datetime(2026, 1, 31, 23, tzinfo=UTC)
    assert all(start <= r.entry.at < end for r in seeded_month())
    assert min(r.entry.at for r in seeded_month()).date() == date(2025, 12, 31)


def test_summer_months_start_at_local_midnight_in_summer_time() -> None:
    assert month_bounds("2026-06") == (
        datetime(2026, 5, 31, 22, tzinfo=UTC),
        datetime(2026, 6, 30, 22, tzinfo=UTC),
    )
    assert month_bounds("2026-12")[1] == datetime(2026, 12, 31, 23, tzinfo=UTC)
    assert month_of(datetime(2026, 1, 31, 23, 30, tzinfo=UTC)) == "2026-02"


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "26-01", "2026-00", ""])
def test_a_month_that_is_not_yyyy_mm_is_refused(month: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_bounds(month)


def test_volume_above_the_factor_times_the_median_stands_out_when_the_floor_is_lower() -> None:
    # Four readers of five referrals each: the median is 5, the bound 3 x 5 = 15 (floor 2).
    rows = [row(s, f"R-{s}-{n}", local(2026, 3, 3, 10)) for s in ("a", "b", "c", "d") for n in range(5)]
    rows += [row("e", f"R-e-{n}", local(2026, 3, 3, 11)) for n in range(15)]  # exactly at the bound
    rows += [row("f", f"R-f-{n}", local(2026, 3, 3, 11)) for n in range(16)]
    found = review_findings(rows, ReviewRules(volume_floor=2), HOLIDAYS)
    assert [(f.kind, f.staff, f.count) for f in found] == [("unusual_volume", "f", 16)]


def test_a_finding_names_at_most_fifty_referrals_and_counts_every_entry() -> None:
    rows = [row("cw-x", f"R-{n:03d}", local(2026, 3, 3, 10), A.DENIED, R.NONE, OUT.DENIED) for n in range(60)]
    rows.append(row("cw-x", "R-000", local(2026, 3, 4, 10), A.DENIED, R.NONE, OUT.DENIED))
    [finding] = review_findings(rows, RULES, HOLIDAYS)
    assert finding.count == 61
    assert finding.referral_ids == tuple(f"R-{n:03d}" for n in range(50))


def test_reads_under_a_grant_are_outside_assignments_the_grant_is_break_glass() -> None:
    rows = [
        row("cw-x", "R-1", local(2026, 3, 3, 10), A.BREAK_GLASS, R.BREAK_GLASS),
        row("cw-x", "R-1", local(2026, 3, 3, 10, 1), A.READ, R.BREAK_GLASS),
        row("cw-x", "R-1", local(2026, 3, 3, 10, 2), A.EXPORT, R.BREAK_GLASS),
    ]
    assert [(f.kind, f.count) for f in review_findings(rows, RULES, HOLIDAYS)] == [
        ("break_glass", 1),
        ("outside_assignments", 2),
    ]


def test_office_hours_are_configurable() -> None:
    late = [row("cw-x", "R-1", local(2026, 3, 3, 17, 30))]
    assert review_findings(late, RULES, HOLIDAYS) != []
    assert review_findings(late, ReviewRules(office_end=datetime.min.time().replace(hour=18)), HOLIDAYS) == []


def test_the_review_is_due_from_office_start_on_the_first_office_day_of_the_month() -> None:
    # 1 January 2026 is a holiday (Thursday), 2 January a Friday: the first office day.
    assert first_office_day(2026, 1, HOLIDAYS) == date(2026, 1, 2)
    assert month_due_for_review(local(2026, 1, 1, 12), RULES, HOLIDAYS) is None
    assert month_due_for_review(local(2026, 1, 2, 7, 59), RULES, HOLIDAYS) is None
    assert month_due_for_review(local(2026, 1, 2, 8, 0), RULES, HOLIDAYS) == "2025-12"
    assert month_due_for_review(local(2026, 1, 20, 3, 0), RULES, HOLIDAYS) == "2025-12"
    # November 2026 starts on a Sunday: nothing is due that day (September's went in October).
    assert month_due_for_review(local(2026, 11, 1, 9), RULES, HOLIDAYS) is None
    assert month_due_for_review(local(2026, 11, 2, 9), RULES, HOLIDAYS) == "2026-10"


STAFF = st.sampled_from(["cw-a1", "cw-a2", "mgr-a", "head", "in-1"])
MARCH = datetime(2026, 3, 1, tzinfo=STOCKHOLM)


@st.composite
def log_rows(draw: st.DrawFn) -> list[LoggedEntry]:
    rows = []
    for _ in range(draw(st.integers(0, 60))):
        rows.append(
            row(
                draw(STAFF),
                f"R-{draw(st.integers(0, 70))}",
                MARCH + timedelta(minutes=draw(st.integers(0, 31 * 24 * 60 - 1))),
                draw(st.sampled_from(list(AccessAction))),
                draw(st.sampled_from(list(AccessRelation))),
                draw(st.sampled_from(list(Outcome))),
            )
        )
    return rows


SMALL = ReviewRules(volume_floor=3, volume_factor=1.5, max_referral_ids=4)


@settings(max_examples=150, deadline=None)
@given(rows=log_rows())
def test_findings_name_only_staff_with_entries_once_per_kind_in_order(rows: list[LoggedEntry]) -> None:
    found = review_findings(rows, SMALL, HOLIDAYS)
    staff_with_rows = {r.entry.staff for r in rows}
    assert {f.staff for f in found} <= staff_with_rows
    keys = [(KINDS.index(f.kind), f.staff) for f in found]
    assert keys == sorted(set(keys))
    for f in found:
        theirs = {r.entry.referral_id for r in rows if r.entry.staff == f.staff}
        assert f.count >= len(f.referral_ids) >= 1
        assert len(f.referral_ids) <= SMALL.max_referral_ids
        assert list(f.referral_ids) == sorted(set(f.referral_ids))
        assert set(f.referral_ids) <= theirs


@settings(max_examples=150, deadline=None)
@given(rows=log_rows())
def test_counts_equal_the_entries_they_stand_for(rows: list[LoggedEntry]) -> None:
    found = review_findings(rows, SMALL, HOLIDAYS)

    def total(kind: str) -> int:
        return sum(f.count for f in found if f.kind == kind)

    grants = [r for r in rows if r.entry.action is A.BREAK_GLASS and r.entry.outcome is OUT.ALLOWED]
    assert total("break_glass") == len(grants)
    assert total("denied") == sum(r.entry.outcome is OUT.DENIED for r in rows)
    data = [
        r for r in rows if r.entry.outcome is OUT.ALLOWED and r.entry.action not in (A.BREAK_GLASS, A.DENIED)
    ]
    outside = [r for r in data if r.entry.relation in (R.HEAD_OF_UNIT, R.BREAK_GLASS, R.NONE)]
    assert total("outside_assignments") == len(outside)
    for f in found:
        if f.kind == "unusual_volume":
            assert f.count == len({r.entry.referral_id for r in data if r.entry.staff == f.staff})


@settings(max_examples=100, deadline=None)
@given(rows=log_rows(), seed=st.integers())
def test_the_same_rows_in_any_order_give_the_same_findings(rows: list[LoggedEntry], seed: int) -> None:
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    assert review_findings(shuffled, SMALL, HOLIDAYS) == review_findings(rows, SMALL, HOLIDAYS)
