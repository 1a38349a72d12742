"""The imbalance ratio of CONTRACTS.md §5: max ÷ min weighted load per FTE among available caseworkers."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import pytest

from services.metrics.domain.events import DeadlineAlerted, ReferralRegistered
from services.metrics.domain.labels import DEADLINES, imbalance_ratio, started
from services.metrics.domain.projection import DeadlineRaised, later_state, read_model_changes

FTE = {"cw-1": 1.0, "cw-2": 0.8, "new-1": 1.0}
HIRED = {"new-1": date(2026, 9, 1)}


def test_a_new_hire_counts_from_the_hire_date_and_not_before():
    assert started(FTE, HIRED, date(2026, 8, 31)) == {"cw-1": 1.0, "cw-2": 0.8}
    assert started(FTE, HIRED, date(2026, 9, 1)) == FTE


def test_the_ratio_is_per_fte_and_ignores_someone_who_has_not_started():
    loads = {"cw-1": 20.0, "cw-2": 12.0}  # 20 per FTE against 15 per FTE
    assert imbalance_ratio(loads, started(FTE, HIRED, date(2026, 8, 1))) == pytest.approx(20 / 15)
    # Counting the new hire before the first day would make the ratio infinite (an empty caseload).
    assert imbalance_ratio(loads, FTE) == math.inf


def test_the_ratio_is_infinite_while_a_started_caseworker_carries_nothing_and_another_something():
    assert imbalance_ratio({"cw-1": 3.0}, {"cw-1": 1.0, "cw-2": 1.0}) == math.inf
    assert imbalance_ratio({"cw-1": 3.0, "cw-2": 0.0}, {"cw-1": 1.0, "cw-2": 1.0}) == math.inf


def test_the_ratio_is_one_when_nobody_carries_anything_and_absent_without_caseworkers():
    assert imbalance_ratio({}, {"cw-1": 1.0, "cw-2": 0.5}) == 1.0
    assert imbalance_ratio({"cw-1": 0.0}, {"cw-1": 1.0}) == 1.0
    assert imbalance_ratio({"cw-1": 2.0}, {}) is None
    assert imbalance_ratio({"cw-1": 2.0}, {"cw-1": 0.0}) is None  # no employment rate: not compared


def test_a_registration_meets_the_registration_clock_and_a_later_alert_cannot_reopen_it():
    at = datetime(2026, 10, 20, 9, tzinfo=UTC)
    met = read_model_changes(ReferralRegistered("R1", at))
    assert met == [DeadlineRaised("R1", "registration", None, None, "met")]
    breached = read_model_changes(DeadlineAlerted("R1", "registration", at, "team-a", breached=True))
    assert [c.state for c in breached if isinstance(c, DeadlineRaised)] == ["breached"]
    assert later_state("met", "breached") == "met"
    assert "registration" in DEADLINES
