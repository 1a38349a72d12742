from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.assignment.domain.deadlines import referral_deadlines
from services.assignment.domain.model import DeadlineRules
from services.assignment.unit_from_config import office_calendar, unit_from_config
from shared.unit_config import DeadlineRules as DeadlinesConfig
from shared.unit_config import load_unit_config

TZ = ZoneInfo("Europe/Stockholm")
CALENDAR = office_calendar(load_unit_config(Path("deploy/config/unit.example.yaml")))


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


def test_received_on_an_office_day_before_the_cutoff_needs_protection_assessment_by_five():
    d = referral_deadlines(local(2026, 11, 18, 14, 59), CALENDAR, TZ)
    assert d.protection_assessment_due == local(2026, 11, 18, 17, 0)


def test_received_after_the_cutoff_needs_protection_assessment_by_noon_next_office_day():
    d = referral_deadlines(local(2026, 11, 20, 15, 0), CALENDAR, TZ)  # a Friday
    assert d.protection_assessment_due == local(2026, 11, 23, 12, 0)


def test_received_at_night_on_a_weekend_counts_from_the_day_it_was_sent():
    d = referral_deadlines(local(2026, 11, 21, 23, 41), CALENDAR, TZ)  # Saturday night
    assert d.preliminary_assessment_due == local(2026, 12, 5, 23, 59, 59)
    assert d.preliminary_due_on_non_office_day  # a Saturday: kept and flagged, not moved


def test_preliminary_assessment_is_due_at_the_end_of_the_fourteenth_day_across_dst():
    d = referral_deadlines(local(2026, 10, 20, 10, 0), CALENDAR, TZ)
    assert d.preliminary_assessment_due == local(2026, 11, 3, 23, 59, 59)
    assert d.preliminary_assessment_due.utcoffset().total_seconds() == 3600
    assert not d.preliminary_due_on_non_office_day


ACUTE_WITHIN_AN_HOUR = DeadlineRules(acute_protection=timedelta(hours=1))


def test_an_acute_referral_on_saturday_evening_needs_protection_assessment_within_the_configured_hour():
    d = referral_deadlines(local(2026, 11, 21, 19, 30), CALENDAR, TZ, ACUTE_WITHIN_AN_HOUR, acute=True)
    assert d.protection_assessment_due == local(2026, 11, 21, 20, 30)


def test_an_acute_referral_in_office_hours_is_also_due_within_the_hour_not_at_five():
    d = referral_deadlines(local(2026, 11, 18, 9, 0), CALENDAR, TZ, ACUTE_WITHIN_AN_HOUR, acute=True)
    assert d.protection_assessment_due == local(2026, 11, 18, 10, 0)


def test_a_non_acute_referral_on_saturday_evening_keeps_the_next_office_day_noon():
    d = referral_deadlines(local(2026, 11, 21, 19, 30), CALENDAR, TZ, ACUTE_WITHIN_AN_HOUR, acute=False)
    assert d.protection_assessment_due == local(2026, 11, 23, 12, 0)


def test_without_the_acute_setting_an_acute_referral_follows_the_office_day_rule():
    d = referral_deadlines(local(2026, 11, 21, 19, 30), CALENDAR, TZ, acute=True)
    assert d.protection_assessment_due == local(2026, 11, 23, 12, 0)


def test_the_example_config_makes_an_acute_protection_assessment_due_within_an_hour():
    unit = unit_from_config(load_unit_config(Path("deploy/config/unit.example.yaml")))
    assert unit.deadlines.acute_protection == timedelta(hours=1)


def test_an_acute_protection_setting_of_zero_or_over_a_day_is_refused_naming_the_field():
    for value in ("PT0S", "P2D"):
        with pytest.raises(ValueError, match="acute_protection_assessment"):
            DeadlinesConfig.model_validate({"acute_protection_assessment": value})


# --- investigation, feedback and reminders ----------------------------------------------------

from datetime import date, timedelta  # noqa: E402

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from services.assignment.domain.deadlines import (  # noqa: E402
    add_months,
    alerts_due,
    feedback_due,
    investigation_due,
)


def test_an_investigation_opened_on_31_august_is_due_on_31_december():
    assert investigation_due(date(2026, 8, 31), TZ) == local(2026, 12, 31, 23, 59, 59)


def test_four_months_from_31_october_is_the_last_day_of_february():
    assert add_months(date(2026, 10, 31), 4) == date(2027, 2, 28)
    assert add_months(date(2027, 10, 31), 4) == date(2028, 2, 29)


def test_an_investigation_due_across_the_autumn_dst_change_ends_at_local_midnight():
    due = investigation_due(date(2026, 7, 15), TZ)
    assert due == local(2026, 11, 15, 23, 59, 59)
    assert due.utcoffset() == timedelta(hours=1)


@given(st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 1, 1)), st.integers(0, 24))
def test_adding_months_keeps_the_day_or_clamps_to_the_month_end(day, months):
    result = add_months(day, months)
    assert (result.year * 12 + result.month) - (day.year * 12 + day.month) == months
    assert result.day == day.day or (result.day < day.day and (result + timedelta(days=1)).day == 1)


def test_feedback_to_a_mandatory_reporter_is_due_a_week_after_the_decision():
    assert feedback_due(local(2026, 3, 25, 16, 0), TZ) == local(2026, 4, 1, 23, 59, 59)


LEADS = (timedelta(days=3), timedelta(days=1))
DUE = local(2026, 12, 5, 23, 59, 59)


def test_approaching_reminders_come_at_each_lead_time_once():
    assert alerts_due(DUE, DUE - timedelta(days=4), LEADS, set()) == []
    first = alerts_due(DUE, DUE - timedelta(days=3), LEADS, set())
    assert [a.key for a in first] == ["approaching:259200"]
    assert alerts_due(DUE, DUE - timedelta(days=2), LEADS, {"approaching:259200"}) == []
    second = alerts_due(DUE, DUE - timedelta(hours=2), LEADS, {"approaching:259200"})
    assert [a.key for a in second] == ["approaching:86400"]


def test_a_breach_is_reported_once_and_stale_reminders_are_not_sent_late():
    assert [a.key for a in alerts_due(DUE, DUE, LEADS, set())] == ["breached"]
    assert alerts_due(DUE, DUE + timedelta(days=9), LEADS, {"breached"}) == []


def test_the_protection_assessment_gets_a_two_hour_reminder():
    due = local(2026, 11, 18, 17, 0)
    alerts = alerts_due(due, local(2026, 11, 18, 15, 0), (timedelta(hours=2),), set())
    assert [a.kind for a in alerts] == ["approaching"]
