"""Selection inside the team: continuity, availability, new hires, capacity (issue 4, point 3)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.assignment.domain.decide import Situation, decide
from services.assignment.domain.model import (
    Availability,
    CapacityRules,
    Caseworker,
    Load,
    OnDuty,
    PriorCase,
    Referral,
    WeightRules,
)
from services.assignment.domain.selection import NoCandidate, continuity_match

TZ = ZoneInfo("Europe/Stockholm")
NOW = datetime(2026, 10, 5, 9, tzinfo=UTC)
DAY = NOW.date()
RULES = CapacityRules()
WEIGHTS = WeightRules(categories={"sexual_abuse": 1.5})
DUTY = OnDuty(
    "team-a", datetime(2026, 9, 28, 6, tzinfo=UTC), datetime(2026, 10, 12, 6, tzinfo=UTC), "rotation"
)
TEAM_A = [Caseworker(f"cw-a{i}", "team-a") for i in range(1, 5)] + [
    Caseworker("cw-a5", "team-a", 1.0, date(2026, 9, 1), "cw-a1"),
    Caseworker("cw-a6", "team-a", 0.8),
]
TEAM_B = [Caseworker(f"cw-b{i}", "team-b") for i in range(1, 7)]
STAFF = TEAM_A + TEAM_B


def referral(n: int = 1, *, child: str = "c-1", family: str = "f-1", cats=("neglect",), acute=False):
    return Referral(f"R-{n}", child, family, tuple(cats), acute)


NOBODY_AWAY = Availability()


def situation(r, *, match=None, loads=None, availability=NOBODY_AWAY, day=DAY, duty=DUTY):
    return Situation(r, duty, match, STAFF, loads or {}, availability, day)


staff_ids = st.sampled_from([w.staff_id for w in TEAM_A])
loads_strategy = st.dictionaries(
    staff_ids, st.builds(Load, st.floats(0, 30, allow_nan=False), st.integers(0, 30)), max_size=6
)


@given(st.sets(staff_ids, max_size=5), st.sets(staff_ids, max_size=2), loads_strategy, st.booleans())
def test_selection_never_picks_an_absent_or_excluded_person(absent, excluded, loads, acute):
    assume_someone_left = set(absent) | set(excluded) != {w.staff_id for w in TEAM_A}
    availability = Availability(frozenset(absent), frozenset(), frozenset(excluded))
    try:
        d = decide(situation(referral(acute=acute), loads=loads, availability=availability), RULES, WEIGHTS)
    except NoCandidate:
        assert not assume_someone_left or acute  # only the restricted new hire was left
        return
    assert d.staff_id not in absent | excluded
    assert d.team == "team-a"


@given(st.sampled_from(["sexual_abuse", "honour_related"]), loads_strategy)
def test_a_new_hire_in_the_first_months_never_gets_a_restricted_category(category, loads):
    everyone_else_full = {w.staff_id: Load(100.0, 100) for w in TEAM_A if w.staff_id != "cw-a5"}
    d = decide(situation(referral(cats=(category,)), loads={**loads, **everyone_else_full}), RULES, WEIGHTS)
    assert d.staff_id != "cw-a5"


def test_a_new_hire_takes_an_ordinary_referral_and_the_assignment_names_the_mentor():
    loads = {w.staff_id: Load(10.0, 10) for w in TEAM_A if w.staff_id != "cw-a5"}
    d = decide(situation(referral(), loads=loads), RULES, WEIGHTS)
    assert (d.staff_id, d.mentor) == ("cw-a5", "cw-a1")
    assert "mentor cw-a1" in d.explanation


def test_a_new_hire_is_not_assigned_before_the_hire_date():
    loads = {w.staff_id: Load(10.0, 10) for w in TEAM_A if w.staff_id != "cw-a5"}
    d = decide(situation(referral(), loads=loads, day=date(2026, 8, 1)), RULES, WEIGHTS)
    assert d.staff_id != "cw-a5"


def test_a_sibling_goes_to_the_caseworker_of_the_open_case_even_in_another_team():
    prior = [PriorCase("cw-b3", "team-b", "c-1", "f-1", None)]
    r = referral(2, child="c-2", family="f-1")
    d = decide(situation(r, match=continuity_match(r, prior, NOW, 180)), RULES, WEIGHTS)
    assert (d.team, d.staff_id, d.reason) == ("team-b", "cw-b3", "continuity")
    assert "same family" in d.explanation


def test_a_repeat_referral_within_the_window_returns_to_the_same_caseworker():
    prior = [PriorCase("cw-a4", "team-a", "c-1", "f-1", NOW - timedelta(days=100))]
    r = referral(3)
    d = decide(situation(r, match=continuity_match(r, prior, NOW, 180)), RULES, WEIGHTS)
    assert (d.staff_id, d.reason) == ("cw-a4", "continuity")


def test_a_case_closed_before_the_continuity_window_does_not_bind():
    prior = [PriorCase("cw-b1", "team-b", "c-1", "f-1", NOW - timedelta(days=181))]
    assert continuity_match(referral(), prior, NOW, 180) is None


def test_when_the_earlier_caseworker_is_away_the_referral_stays_in_their_team():
    prior = [PriorCase("cw-b3", "team-b", "c-1", "f-1", None)]
    r = referral(4)
    away = Availability(absent=frozenset({"cw-b3"}))
    d = decide(situation(r, match=continuity_match(r, prior, NOW, 180), availability=away), RULES, WEIGHTS)
    assert d.team == "team-b" and d.staff_id != "cw-b3" and d.reason == "continuity"


def test_someone_back_from_leave_gets_at_most_the_daily_limit():
    loads = {w.staff_id: Load(12.0, 12) for w in TEAM_A if w.staff_id != "cw-a2"}
    returning = Availability(returning=frozenset({"cw-a2"}))
    fresh = {**loads, "cw-a2": Load(0.0, 0, None, 1)}
    assert (
        decide(situation(referral(), loads=fresh, availability=returning), RULES, WEIGHTS).staff_id == "cw-a2"
    )
    limit = {**loads, "cw-a2": Load(0.0, 0, None, RULES.return_max_per_day)}
    assert (
        decide(situation(referral(), loads=limit, availability=returning), RULES, WEIGHTS).staff_id != "cw-a2"
    )


def test_an_override_is_named_as_the_reason():
    duty = OnDuty("team-b", NOW, NOW + timedelta(days=1), "override")
    d = decide(situation(referral(), duty=duty), RULES, WEIGHTS)
    assert (d.team, d.reason) == ("team-b", "override")


def test_nobody_available_is_an_error_the_handler_must_route_to_the_manager():
    everyone = Availability(absent=frozenset(w.staff_id for w in TEAM_A))
    with pytest.raises(NoCandidate):
        decide(situation(referral(), availability=everyone), RULES, WEIGHTS)
