from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import example, given
from hypothesis import strategies as st

from services.assignment.domain.model import OfficeCalendar
from services.assignment.domain.rotation import assignment_instant, next_office_moment, on_duty_team
from services.assignment.unit_from_config import office_calendar, rotation_plan
from shared.office_days import swedish_holidays
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


# --- any number of teams, any period, overrides, schedule, handovers, calendar ------------------

from services.assignment.domain.model import Override, RotationPlan  # noqa: E402
from services.assignment.domain.rotation import handovers, on_duty, schedule  # noqa: E402

plans = st.builds(
    lambda n, days, anchor: RotationPlan(tuple(f"team-{i}" for i in range(n)), days, anchor, time(8, 0)),
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=1, max_value=35),
    st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)),
)


@given(plans, instants)
def test_for_any_plan_exactly_one_team_holds_each_instant_and_hands_over_at_eight_local(plan, at):
    duty = on_duty_team(plan, at, TZ)
    assert duty.period_start <= at < duty.period_end
    assert duty.period_start.astimezone(TZ).time() == time(8, 0)
    assert duty.period_end.astimezone(TZ).time() == time(8, 0)
    assert (duty.period_end.astimezone(TZ).date() - duty.period_start.astimezone(TZ).date()).days == (
        plan.period_days
    )
    # A moment before the period start belongs to the previous period, never to this one.
    before = on_duty_team(plan, duty.period_start - timedelta(microseconds=1), TZ)
    assert before.period_end == duty.period_start


@given(plans, instants)
def test_for_any_plan_the_order_cycles_back_after_one_round(plan, at):
    duty = on_duty_team(plan, at, TZ)
    moment, seen = duty.period_end, [duty.team]
    for _ in range(len(plan.order)):
        nxt = on_duty_team(plan, moment, TZ)
        seen.append(nxt.team)
        moment = nxt.period_end
    assert seen[-1] == seen[0]
    assert sorted(seen[:-1]) == sorted(plan.order)


windows = st.tuples(instants, st.integers(min_value=1, max_value=24 * 30))


# Ends at 02:00 local in the hour that repeats when summer time ends (found by Hypothesis).
@example(window=(datetime(2039, 10, 2, 14, tzinfo=UTC), 658), at=datetime(2039, 10, 2, 14, tzinfo=UTC))
@given(windows, instants)
def test_an_override_wins_inside_its_window_and_only_there(window, at):
    start, hours = window
    override = Override("team-b", start, start + timedelta(hours=hours), "sick team")
    duty = on_duty(PLAN, [override], at, TZ)
    if start <= at < start + timedelta(hours=hours):
        assert (duty.team, duty.source) == ("team-b", "override")
        # As instants: == between a local and a UTC datetime is False inside the repeated hour of
        # the autumn clock change (PEP 495), although they are the same instant.
        assert duty.period_start.timestamp() == start.timestamp()
        assert duty.period_end.timestamp() == override.ends_at.timestamp()
    else:
        assert duty == on_duty_team(PLAN, at, TZ)


def test_the_latest_of_two_overlapping_overrides_wins():
    first = Override("team-b", local(2026, 2, 1), local(2026, 2, 10))
    second = Override("team-c", local(2026, 2, 5), local(2026, 2, 6))
    assert on_duty(PLAN, [first, second], local(2026, 2, 5, 12), TZ).team == "team-c"
    assert on_duty(PLAN, [first, second], local(2026, 2, 6, 12), TZ).team == "team-b"


def test_the_schedule_cuts_an_override_into_the_rotation_and_keeps_full_period_bounds():
    override = Override("team-c", local(2026, 1, 12, 8), local(2026, 1, 14, 8))
    periods = schedule(PLAN, [override], local(2026, 1, 6), local(2026, 1, 20), TZ)
    assert [(p.team, p.source) for p in periods] == [
        ("team-a", "rotation"),
        ("team-c", "override"),
        ("team-a", "rotation"),
        ("team-b", "rotation"),
    ]
    assert periods[0].period_start == local(2026, 1, 5, 8)
    assert periods[1].period_start == local(2026, 1, 12, 8) and periods[1].period_end == local(2026, 1, 14, 8)
    assert periods[-1].period_end == local(2026, 2, 2, 8)


def test_handovers_are_found_once_per_change_of_team_including_across_dst():
    found = handovers(PLAN, [], local(2026, 3, 1), local(2026, 4, 30), TZ)
    assert found == [
        ("team-a", "team-b", local(2026, 3, 2, 8)),
        ("team-b", "team-c", local(2026, 3, 16, 8)),
        ("team-c", "team-a", local(2026, 3, 30, 8)),
        ("team-a", "team-b", local(2026, 4, 13, 8)),
        ("team-b", "team-c", local(2026, 4, 27, 8)),
    ]
    assert found[2][2].utcoffset() == timedelta(hours=2)


# --- policy edge cases ------------------------------------------------------------------------


def test_midsummer_eve_referral_waits_for_the_team_on_duty_the_next_office_morning():
    midsummer_eve = local(2026, 6, 19, 10, 0)  # a Friday, treated as a public holiday
    instant = assignment_instant("next_office_hours", midsummer_eve, CALENDAR, TZ)
    assert instant == local(2026, 6, 22, 8, 0)
    assert on_duty_team(PLAN, instant, TZ).team == on_duty_team(PLAN, local(2026, 6, 22, 9), TZ).team


def test_on_a_handover_day_the_outgoing_team_holds_until_eight_and_the_incoming_team_after():
    early = local(2026, 1, 19, 6, 30)  # Monday handover day, before office hours
    assert on_duty_team(PLAN, early, TZ).team == "team-a"
    assert on_duty_team(PLAN, assignment_instant("received_at", early, CALENDAR, TZ), TZ).team == "team-a"
    instant = assignment_instant("next_office_hours", early, CALENDAR, TZ)
    assert instant == local(2026, 1, 19, 8, 0)
    assert on_duty_team(PLAN, instant, TZ).team == "team-b"
    assert on_duty_team(PLAN, local(2026, 1, 19, 16, 59), TZ).team == "team-b"


def test_a_referral_on_the_evening_of_a_handover_day_stays_with_the_new_team():
    evening = local(2026, 1, 19, 20, 0)
    instant = assignment_instant("next_office_hours", evening, CALENDAR, TZ)
    assert instant == local(2026, 1, 20, 8, 0)
    assert on_duty_team(PLAN, instant, TZ).team == "team-b"
