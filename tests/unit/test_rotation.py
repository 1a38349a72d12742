from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from services.assignment.domain.model import OfficeCalendar
from services.assignment.domain.rotation import assignment_instant, next_office_moment, on_duty_team
from services.assignment.unit_config import office_calendar, rotation_plan, swedish_holidays
from shared.unit_config import load_unit_config

TZ = ZoneInfo("Europe/Stockholm")
CONFIG = load_unit_config(Path("deploy/config/unit.example.yaml"))
PLAN, _ = rotation_plan(CONFIG)
CALENDAR = office_calendar(CONFIG)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


def test_team_a_is_on_duty_from_the_anchor_and_team_b_two_weeks_later():
    assert on_duty_team(PLAN, local(2026, 1, 5, 8, 0), TZ).team == "team-a"
    assert on_duty_team(PLAN, local(2026, 1, 19, 7, 59), TZ).team == "team-a"
    assert on_duty_team(PLAN, local(2026, 1, 19, 8, 0), TZ).team == "team-b"
    assert on_duty_team(PLAN, local(2026, 2, 2, 8, 0), TZ).team == "team-c"
    assert on_duty_team(PLAN, local(2026, 2, 16, 8, 0), TZ).team == "team-a"


def test_before_the_anchor_the_rotation_runs_backwards():
    assert on_duty_team(PLAN, local(2026, 1, 5, 7, 59), TZ).team == "team-c"


def test_handover_stays_at_eight_local_time_across_the_spring_daylight_saving_change():
    # 2026-03-29 is the last Sunday in March; a period starting 2026-03-16 ends 2026-03-30 08:00.
    duty = on_duty_team(PLAN, local(2026, 3, 29, 12, 0), TZ)
    assert duty.period_end == local(2026, 3, 30, 8, 0)
    assert duty.period_end.utcoffset() == timedelta(hours=2)
    assert duty.period_start.utcoffset() == timedelta(hours=1)


def test_a_referral_received_friday_evening_before_a_monday_handover_goes_to_the_incoming_team():
    friday_evening = local(2026, 1, 16, 17, 30)
    assert on_duty_team(PLAN, friday_evening, TZ).team == "team-a"
    instant = assignment_instant("next_office_hours", friday_evening, CALENDAR, TZ)
    assert instant == local(2026, 1, 19, 8, 0)
    assert on_duty_team(PLAN, instant, TZ).team == "team-b"


def test_the_received_at_policy_keeps_the_team_on_duty_at_receipt():
    friday_evening = local(2026, 1, 16, 17, 30)
    instant = assignment_instant("received_at", friday_evening, CALENDAR, TZ)
    assert on_duty_team(PLAN, instant, TZ).team == "team-a"


def test_midsummer_eve_is_not_an_office_day():
    assert date(2026, 6, 19) in swedish_holidays()
    moment = next_office_moment(local(2026, 6, 18, 18, 0), CALENDAR, TZ)
    assert moment == local(2026, 6, 22, 8, 0)


def test_inside_office_hours_the_referral_is_assigned_at_once():
    at = local(2026, 1, 14, 10, 15)
    assert next_office_moment(at, CALENDAR, TZ) == at


instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


@given(instants)
def test_exactly_one_team_is_on_duty_and_its_period_contains_the_instant(at):
    duty = on_duty_team(PLAN, at, TZ)
    assert duty.team in PLAN.order
    assert duty.period_start <= at < duty.period_end
    assert duty.period_start.astimezone(TZ).time() == time(8, 0)
    assert duty.period_end.astimezone(TZ).time() == time(8, 0)
    assert (duty.period_end.date() - duty.period_start.date()).days == 14


@given(instants)
def test_the_next_period_belongs_to_the_next_team_in_the_order(at):
    duty = on_duty_team(PLAN, at, TZ)
    following = on_duty_team(PLAN, duty.period_end, TZ)
    expected = PLAN.order[(PLAN.order.index(duty.team) + 1) % len(PLAN.order)]
    assert following.team == expected


@given(instants)
def test_the_next_office_moment_is_never_earlier_and_always_inside_office_hours(at):
    calendar = OfficeCalendar(time(8), time(17), time(15), swedish_holidays())
    moment = next_office_moment(at, calendar, TZ)
    assert moment >= at
    loc = moment.astimezone(TZ)
    assert calendar.is_office_day(loc.date())
    assert time(8) <= loc.time() < time(17)
