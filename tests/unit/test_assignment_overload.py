"""Overload flags as pure rules: escalation in office hours, the answers, who may answer."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.assignment.domain.access import Actor
from services.assignment.domain.errors import NotPermitted
from services.assignment.domain.model import OfficeCalendar
from services.assignment.domain.overload import (
    FlagAlreadyAnswered,
    InvalidOverloadResponse,
    OverloadFlag,
    OverloadResponse,
    add_office_hours,
    answer,
    board_state,
    capacity_factors,
    check_note,
    due_for_escalation,
    may_raise,
    may_respond,
    paused,
)
from shared.office_days import swedish_holidays

TZ = ZoneInfo("Europe/Stockholm")
CALENDAR = OfficeCalendar(time(8), time(17), time(15), swedish_holidays())
MANAGERS = {"team-a": "mgr-a", "team-b": "mgr-b"}
MGR_A = Actor("mgr-a", frozenset({"manager"}))


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


RAISED = local(2026, 10, 5, 10)


def flag(raised: datetime = RAISED, **changes: object) -> OverloadFlag:
    base = OverloadFlag("f-1", "cw-a1", "team-a", "a note", raised, raised + timedelta(hours=4))
    return OverloadFlag(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def response(action: str, comment: str = "talked it through", **fields: object) -> OverloadResponse:
    return OverloadResponse(action, comment, MGR_A, local(2026, 10, 5, 12), **fields)  # type: ignore[arg-type]


def test_a_flag_raised_friday_at_four_with_four_office_hours_escalates_monday_at_eleven() -> None:
    at = add_office_hours(local(2026, 10, 9, 16), 4, CALENDAR, TZ)
    assert at == local(2026, 10, 12, 11)


def test_a_flag_raised_before_christmas_escalates_after_christmas_eve_christmas_and_boxing_day() -> None:
    # Wednesday 23 December 15:00: two hours that day; 24-27 are no office days; Monday 28th.
    at = add_office_hours(local(2026, 12, 23, 15), 4, CALENDAR, TZ)
    assert at == local(2026, 12, 28, 10)


def test_a_flag_raised_on_midsummer_eve_counts_from_monday() -> None:
    # Midsummer Eve 2026 is Friday 19 June, treated as a holiday.
    assert add_office_hours(local(2026, 6, 19, 9), 2, CALENDAR, TZ) == local(2026, 6, 22, 10)


@pytest.mark.parametrize(
    ("raised", "next_start"),
    [
        (local(2026, 10, 6, 22, 30), local(2026, 10, 7, 8)),
        (local(2026, 10, 7, 6), local(2026, 10, 7, 8)),
        (local(2026, 10, 10, 12), local(2026, 10, 12, 8)),
        (local(2026, 10, 11, 23), local(2026, 10, 12, 8)),
    ],
    ids=["late evening", "early morning", "saturday", "sunday night"],
)
def test_a_flag_raised_at_night_or_at_the_weekend_counts_from_the_next_office_start(
    raised: datetime, next_start: datetime
) -> None:
    assert add_office_hours(raised, 3, CALENDAR, TZ) == next_start + timedelta(hours=3)


def test_hours_spanning_several_days_carry_over_whole_office_days() -> None:
    # 20 office hours from Monday 09:00: 8 Monday, 9 Tuesday, 3 Wednesday.
    assert add_office_hours(local(2026, 10, 5, 9), 20, CALENDAR, TZ) == local(2026, 10, 7, 11)


@settings(max_examples=200, deadline=None)
@given(
    raised=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
    ),
    hours=st.floats(min_value=0.25, max_value=80),
)
def test_escalation_is_never_before_the_hours_have_passed_and_always_in_office_hours(
    raised: datetime, hours: float
) -> None:
    at = add_office_hours(raised, hours, CALENDAR, TZ)
    assert at >= raised + timedelta(hours=hours) - timedelta(microseconds=1)
    there = at.astimezone(TZ)
    assert CALENDAR.is_office_day(there.date())
    assert time(8) < there.time() <= time(17)


def test_a_note_is_at_most_three_hundred_characters_and_empty_means_none() -> None:
    assert check_note("   ") is None
    assert check_note(" full ") == "full"
    assert check_note("x" * 300) == "x" * 300
    with pytest.raises(InvalidOverloadResponse) as refused:
        check_note("x" * 301)
    assert refused.value.field == "note"


def test_only_the_person_themself_raises_a_flag() -> None:
    may_raise(Actor("cw-a1", frozenset({"caseworker"})), "cw-a1")
    with pytest.raises(NotPermitted):
        may_raise(MGR_A, "cw-a1")


@pytest.mark.parametrize(
    ("actor", "allowed"),
    [
        (Actor("mgr-a", frozenset({"manager"})), True),
        (Actor("head", frozenset({"head_of_unit"})), True),
        (Actor("mgr-b", frozenset({"manager"})), False),  # another team's manager
        (Actor("mgr-a", frozenset({"caseworker"})), False),  # the id without the role
        (Actor("cw-a1", frozenset({"manager", "head_of_unit"})), False),  # never the person themself
        (Actor("cw-a2", frozenset({"caseworker"})), False),
    ],
)
def test_the_team_manager_or_the_head_of_unit_answers_never_the_person(actor: Actor, allowed: bool) -> None:
    flagged = flag()
    # The person themself is refused even where they also hold the positions.
    managers = {**MANAGERS, "team-a": "cw-a1"} if actor.staff_id == "cw-a1" else MANAGERS
    head = "cw-a1" if actor.staff_id == "cw-a1" else "head"
    assert may_respond(flagged, actor, managers, head) is allowed


def test_relieve_needs_a_factor_in_zero_to_one_and_an_end_in_the_future() -> None:
    later = local(2026, 10, 19, 8)
    answered = answer(flag(), response("relieve", capacity_factor=0.5, until=later), [])
    assert (answered.action, answered.capacity_factor, answered.relief_until) == ("relieve", 0.5, later)
    assert answered.responded_by == "mgr-a" and answered.response_seconds == 2 * 3600
    for factor, until, field in [
        (None, later, "capacity_factor"),
        (0.0, later, "capacity_factor"),
        (1.5, later, "capacity_factor"),
        (0.5, None, "until"),
        (0.5, local(2026, 10, 5, 11), "until"),
    ]:
        with pytest.raises(InvalidOverloadResponse) as refused:
            answer(flag(), response("relieve", capacity_factor=factor, until=until), [])
        assert refused.value.field == field


def test_reassign_names_only_open_referrals_of_the_flagged_person() -> None:
    answered = answer(flag(), response("reassign", referral_ids=("R-1", "R-2")), ["R-1", "R-2", "R-3"])
    assert answered.reassigned == 2
    with pytest.raises(InvalidOverloadResponse, match="referral_ids"):
        answer(flag(), response("reassign"), ["R-1"])
    with pytest.raises(InvalidOverloadResponse, match="referral_ids"):
        answer(flag(), response("reassign", referral_ids=("R-1", "R-9")), ["R-1"])


def test_every_answer_needs_a_comment_of_at_most_five_hundred_characters() -> None:
    assert answer(flag(), response("keep", "  we talk Friday "), []).comment == "we talk Friday"
    for comment in ["", "   ", "x" * 501]:
        with pytest.raises(InvalidOverloadResponse) as refused:
            answer(flag(), response("keep", comment), [])
        assert refused.value.field == "comment"
    with pytest.raises(InvalidOverloadResponse) as unknown:
        answer(flag(), response("ignore"), [])
    assert unknown.value.field == "action"


def test_a_flag_is_answered_once() -> None:
    answered = answer(flag(), response("keep"), [])
    with pytest.raises(FlagAlreadyAnswered):
        answer(answered, response("keep"), [])


def test_an_open_flag_pauses_and_a_relief_scales_until_it_ends() -> None:
    until = local(2026, 10, 19, 8)
    relieved = answer(flag(), response("relieve", capacity_factor=0.6, until=until), [])
    other = flag(flag_id="f-2", staff_id="cw-a2")
    assert paused([relieved, other]) == {"cw-a2"}
    assert capacity_factors([relieved, other], until - timedelta(seconds=1)) == {"cw-a1": 0.6}
    assert capacity_factors([relieved, other], until) == {}
    assert board_state([relieved, other], "cw-a1", until - timedelta(days=1)) == relieved
    assert board_state([relieved, other], "cw-a1", until) is None
    assert board_state([relieved, other], "cw-a2", until) == other


def test_an_open_flag_is_due_for_escalation_once_past_its_time_and_not_after_an_answer() -> None:
    f = flag()
    assert not due_for_escalation(f, f.escalate_at - timedelta(seconds=1))
    assert due_for_escalation(f, f.escalate_at)
    assert not due_for_escalation(flag(escalated_at=f.escalate_at), f.escalate_at)
    assert not due_for_escalation(answer(f, response("keep"), []), f.escalate_at)


def test_a_flag_raised_on_a_date_with_no_office_day_before_new_year_escalates_in_january() -> None:
    assert date(2026, 12, 31) in swedish_holidays()
    at = add_office_hours(local(2026, 12, 30, 16), 2, CALENDAR, TZ)
    assert at == local(2027, 1, 4, 9)  # 1 hour on the 30th; 31st, 1st (Fri), weekend; Monday
