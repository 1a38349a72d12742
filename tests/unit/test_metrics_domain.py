"""The imbalance ratio of CONTRACTS.md §5: max ÷ min weighted load per FTE among available caseworkers."""

from __future__ import annotations

from datetime import date

import pytest

from services.metrics.domain.labels import imbalance_ratio, started

FTE = {"cw-1": 1.0, "cw-2": 0.8, "new-1": 1.0}
HIRED = {"new-1": date(2026, 9, 1)}


def test_a_new_hire_counts_from_the_hire_date_and_not_before():
    assert started(FTE, HIRED, date(2026, 8, 31)) == {"cw-1": 1.0, "cw-2": 0.8}
    assert started(FTE, HIRED, date(2026, 9, 1)) == FTE


def test_the_ratio_is_per_fte_and_ignores_someone_who_has_not_started():
    loads = {"cw-1": 20.0, "cw-2": 12.0}  # 20 per FTE against 15 per FTE
    assert imbalance_ratio(loads, started(FTE, HIRED, date(2026, 8, 1))) == pytest.approx(20 / 15)
    # Counting the new hire before the first day would make the ratio undefined (an empty caseload).
    assert imbalance_ratio(loads, FTE) is None


def test_no_ratio_while_a_started_caseworker_carries_nothing():
    assert imbalance_ratio({"cw-1": 3.0}, {"cw-1": 1.0, "cw-2": 1.0}) is None
