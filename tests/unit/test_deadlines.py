from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from services.assignment.domain.deadlines import referral_deadlines
from services.assignment.unit_config import office_calendar
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
