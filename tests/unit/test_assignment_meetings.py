"""Fixed meeting times (issue 22): slots expanded in Stockholm local time across DST changes,
holidays skipped, handover meetings on rotation change days, and the next free consultation
booking for a team within the horizon."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.assignment.domain.meetings import (
    BOOKING_LEAD,
    NoFreeBooking,
    Slot,
    bookings,
    free_bookings,
    next_free_booking,
    occurrences,
)
from services.assignment.domain.rotation import handovers
from tests.assignment_support import UNIT

TZ = ZoneInfo("Europe/Stockholm")
RULES = UNIT.meetings
TEAMS = [t.id for t in UNIT.teams]


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]


def expand(start: datetime, end: datetime) -> list:  # type: ignore[type-arg]
    changes = handovers(UNIT.plan, [], start - timedelta(days=1), end, TZ)
    return occurrences(RULES, TEAMS, changes, start, end, UNIT.calendar, TZ)


def test_the_tuesday_slot_is_at_13_local_in_winter_and_in_summer() -> None:
    winter = [o for o in expand(local(2026, 3, 23), local(2026, 3, 28)) if o.slot.id == "open-care"]
    summer = [o for o in expand(local(2026, 3, 30), local(2026, 4, 4)) if o.slot.id == "open-care"]
    assert [o.starts_at.astimezone(UTC).hour for o in winter + summer] == [12, 11]
    assert {
        (o.starts_at.astimezone(TZ).time(), o.ends_at.astimezone(TZ).time()) for o in winter + summer
    } == {(time(13), time(15))}
    assert winter[0].teams == tuple(TEAMS)  # no teams in the unit file: every team's


def test_a_weekly_slot_falls_away_on_a_public_holiday() -> None:
    # Ascension Day 2026 is Thursday 14 May: no school consultations that week, the next week yes.
    found = [
        o.starts_at.date() for o in expand(local(2026, 5, 11), local(2026, 5, 25)) if o.slot.id == "school"
    ]
    assert found == [date(2026, 5, 21)]


def test_the_handover_meeting_is_on_each_change_day_for_both_teams() -> None:
    found = [o for o in expand(local(2026, 1, 12), local(2026, 2, 9)) if o.slot.kind == "handover"]
    assert [(o.starts_at, o.ends_at, o.teams) for o in found] == [
        (local(2026, 1, 19, 8), local(2026, 1, 19, 9), ("team-a", "team-b")),
        (local(2026, 2, 2, 8), local(2026, 2, 2, 9), ("team-b", "team-c")),
    ]
    assert len({o.uid for o in found}) == 2


def test_a_consultation_slot_is_cut_into_bookings_and_a_short_remainder_left_out() -> None:
    (occurrence,) = [o for o in expand(local(2026, 10, 6), local(2026, 10, 7)) if o.slot.id == "open-care"]
    assert [b.starts_at.time() for b in bookings(occurrence)] == [
        time(13),
        time(13, 30),
        time(14),
        time(14, 30),
    ]
    odd = dataclasses.replace(occurrence, slot=dataclasses.replace(occurrence.slot, booking_minutes=45))
    assert [b.starts_at.time() for b in bookings(odd)] == [time(13), time(13, 45)]


def test_the_next_free_booking_skips_booked_times_and_keeps_the_lead() -> None:
    monday = local(2026, 10, 5, 10)
    first = next_free_booking(RULES, "team-a", monday, set(), UNIT.calendar, TZ)
    assert (first.slot, first.starts_at) == ("open-care", local(2026, 10, 6, 13))
    second = next_free_booking(RULES, "team-a", monday, {first.starts_at}, UNIT.calendar, TZ)
    assert second.starts_at == local(2026, 10, 6, 13, 30)
    # Another team's bookings are no business of team-a's: booked starts come per team.
    assert next_free_booking(RULES, "team-b", monday, set(), UNIT.calendar, TZ).starts_at == first.starts_at
    just_too_late = local(2026, 10, 6, 12, 1)
    assert next_free_booking(RULES, "team-a", just_too_late, set(), UNIT.calendar, TZ).starts_at == local(
        2026, 10, 6, 13, 30
    )
    exactly = local(2026, 10, 6, 12)
    assert next_free_booking(RULES, "team-a", exactly, set(), UNIT.calendar, TZ).starts_at == local(
        2026, 10, 6, 13
    )


def test_only_the_teams_of_a_slot_get_its_bookings() -> None:
    only_b = dataclasses.replace(
        RULES, slots=tuple(dataclasses.replace(s, teams=("team-b",)) for s in RULES.slots)
    )
    monday = local(2026, 10, 5, 10)
    assert next_free_booking(only_b, "team-b", monday, set(), UNIT.calendar, TZ).starts_at == local(
        2026, 10, 6, 13
    )
    with pytest.raises(NoFreeBooking):
        next_free_booking(only_b, "team-a", monday, set(), UNIT.calendar, TZ)


def test_nothing_free_within_the_horizon_is_refused() -> None:
    wednesday = local(2026, 10, 7, 10)
    everything = {b.starts_at for b in free_bookings(RULES, "team-a", wednesday, set(), UNIT.calendar, TZ)}
    assert len(everything) == 4 * (4 + 3)  # four weeks of Tuesday 13-15 by 30 and Thursday 9-10 by 20
    with pytest.raises(NoFreeBooking, match="28 days"):
        next_free_booking(RULES, "team-a", wednesday, everything, UNIT.calendar, TZ)
    short = dataclasses.replace(RULES, horizon_days=1)
    thursday = next_free_booking(short, "team-a", local(2026, 10, 7, 10, 30), set(), UNIT.calendar, TZ)
    assert thursday.starts_at == local(2026, 10, 8, 9)  # 22.5 hours ahead: inside one day
    with pytest.raises(NoFreeBooking):  # from Thursday after the slot, the next is Tuesday: too far
        next_free_booking(short, "team-a", local(2026, 10, 8, 10, 30), set(), UNIT.calendar, TZ)


def test_a_slot_meets_at_the_same_local_time_on_both_sides_of_the_autumn_change() -> None:
    slot = Slot("daily", "Morgonmöte", "meeting", time(8, 30), time(9), weekday=0, teams=("team-a",))
    rules = dataclasses.replace(RULES, slots=(slot,))
    found = occurrences(rules, TEAMS, [], local(2026, 10, 19), local(2026, 11, 3), UNIT.calendar, TZ)
    assert [o.starts_at.astimezone(UTC).hour for o in found] == [6, 7, 7]  # CEST, then CET
    assert {o.starts_at.astimezone(TZ).time() for o in found} == {time(8, 30)}


@settings(max_examples=200, deadline=None)
@given(
    now=st.datetimes(datetime(2026, 1, 1), datetime(2030, 12, 1), timezones=st.just(UTC)),
    taken=st.integers(0, 12),
)
def test_the_next_free_booking_is_free_in_the_horizon_and_none_before_it_is(
    now: datetime, taken: int
) -> None:
    free = free_bookings(RULES, "team-a", now, set(), UNIT.calendar, TZ)
    booked = {b.starts_at for b in free[:taken]}
    chosen = next_free_booking(RULES, "team-a", now, booked, UNIT.calendar, TZ)
    local_start = chosen.starts_at.astimezone(TZ)
    assert now + BOOKING_LEAD <= chosen.starts_at <= now + timedelta(days=RULES.horizon_days)
    assert chosen.starts_at not in booked and UNIT.calendar.is_office_day(local_start.date())
    slot_starts = {
        "open-care": {time(13), time(13, 30), time(14), time(14, 30)},
        "school": {time(9), time(9, 20), time(9, 40)},
    }
    assert local_start.time() in slot_starts[chosen.slot]
    assert local_start.weekday() == {"open-care": 1, "school": 3}[chosen.slot]
    assert all(b.starts_at in booked for b in free if b.starts_at < chosen.starts_at)
    again = next_free_booking(RULES, "team-a", now, booked | {chosen.starts_at}, UNIT.calendar, TZ)
    assert again.starts_at > chosen.starts_at
