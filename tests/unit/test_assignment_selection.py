"""Selection inside the team: continuity, availability, new hires, capacity (issue 4, point 3)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
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
from services.assignment.domain.workload import active_mentors, allowed_for_new_hire, capacity, has_started

TZ = ZoneInfo("Europe/Stockholm")
NOW = datetime(2026, 10, 5, 9, tzinfo=UTC)
DAY = NOW.date()
RULES = CapacityRules()
WEIGHTS = WeightRules(categories={"sexual_abuse": 150})  # hundredths of a case
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
    staff_ids, st.builds(Load, st.integers(0, 3000), st.integers(0, 30)), max_size=6
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
    everyone_else_full = {w.staff_id: Load(10000, 100) for w in TEAM_A if w.staff_id != "cw-a5"}
    d = decide(situation(referral(cats=(category,)), loads={**loads, **everyone_else_full}), RULES, WEIGHTS)
    assert d.staff_id != "cw-a5"


def test_a_new_hire_takes_an_ordinary_referral_and_the_assignment_names_the_mentor():
    loads = {w.staff_id: Load(1000, 10) for w in TEAM_A if w.staff_id != "cw-a5"}
    d = decide(situation(referral(), loads=loads), RULES, WEIGHTS)
    assert (d.staff_id, d.mentor) == ("cw-a5", "cw-a1")
    assert "mentor cw-a1" in d.explanation


def test_a_new_hire_is_not_assigned_before_the_hire_date():
    loads = {w.staff_id: Load(1000, 10) for w in TEAM_A if w.staff_id != "cw-a5"}
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


def test_a_sibling_goes_to_a_teammate_with_room_when_the_caseworker_of_the_open_case_is_full():
    prior = [PriorCase("cw-b3", "team-b", "c-1", "f-1", None)]
    r = referral(5, child="c-2", family="f-1")
    loads = {"cw-b3": Load(1950, 19), "cw-b1": Load(800, 8)}
    d = decide(situation(r, match=continuity_match(r, prior, NOW, 180), loads=loads), RULES, WEIGHTS)
    assert (d.team, d.reason) == ("team-b", "continuity") and d.staff_id not in {"cw-b3", "cw-b1"}
    assert d.explanation.startswith(
        "team team-b has the family's earlier case; its caseworker cw-b3 is at capacity"
    )


def test_a_repeat_after_closing_goes_to_a_teammate_with_room_when_the_caseworker_is_full():
    prior = [PriorCase("cw-a4", "team-a", "c-1", "f-1", NOW - timedelta(days=30))]
    r = referral(6)
    loads = {"cw-a4": Load(1500, 15)}
    d = decide(situation(r, match=continuity_match(r, prior, NOW, 180), loads=loads), RULES, WEIGHTS)
    assert (d.team, d.reason) == ("team-a", "continuity") and d.staff_id != "cw-a4"
    assert "same child's earlier case; its caseworker cw-a4 is at capacity" in d.explanation


def test_a_sibling_stays_with_a_full_caseworker_when_nobody_else_in_the_team_has_room():
    prior = [PriorCase("cw-b3", "team-b", "c-1", "f-1", None)]
    r = referral(7, child="c-2", family="f-1")
    loads = {w.staff_id: Load(1500, 15) for w in TEAM_B}
    d = decide(situation(r, match=continuity_match(r, prior, NOW, 180), loads=loads), RULES, WEIGHTS)
    assert (d.team, d.staff_id, d.reason) == ("team-b", "cw-b3", "continuity")
    assert "nobody else in the team has room" in d.explanation


def test_a_referral_about_the_child_of_an_open_case_follows_its_caseworker_however_full():
    prior = [PriorCase("cw-b3", "team-b", "c-1", "f-1", None)]
    r = referral(8)
    loads = {"cw-b3": Load(4000, 40)}
    d = decide(situation(r, match=continuity_match(r, prior, NOW, 180), loads=loads), RULES, WEIGHTS)
    assert (d.team, d.staff_id, d.reason) == ("team-b", "cw-b3", "continuity")
    assert "open case about the same child is theirs; load 40.0 of 15.0" in d.explanation


def test_a_case_closing_after_the_referral_counts_as_open_then():
    prior = [PriorCase("cw-b3", "team-b", "c-1", "f-1", NOW + timedelta(days=3))]
    match = continuity_match(referral(), prior, NOW, 180)
    assert match is not None and match.closed_at is None and match.caseworker == "cw-b3"


def test_someone_back_from_leave_gets_at_most_the_daily_limit():
    loads = {w.staff_id: Load(1200, 12) for w in TEAM_A if w.staff_id != "cw-a2"}
    returning = Availability(returning=frozenset({"cw-a2"}))
    fresh = {**loads, "cw-a2": Load(0, 0, None, 1)}
    assert (
        decide(situation(referral(), loads=fresh, availability=returning), RULES, WEIGHTS).staff_id == "cw-a2"
    )
    limit = {**loads, "cw-a2": Load(0, 0, None, RULES.return_max_per_day)}
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


# Continuity under load (issue 4): properties over any loads, absences and earlier cases.

all_ids = st.sampled_from([w.staff_id for w in STAFF])
all_loads = st.dictionaries(all_ids, st.builds(Load, st.integers(0, 3000), st.integers(0, 30)), max_size=12)
categories = st.lists(st.sampled_from(["neglect", "violence", "sexual_abuse", "honour_related"]), min_size=1)
CLOSED_RECENTLY = st.one_of(st.none(), st.integers(1, 180).map(lambda d: NOW - timedelta(days=d)))


def prior_case(staff_id: str, child: str, closed_at: datetime | None) -> PriorCase:
    worker = next(w for w in STAFF if w.staff_id == staff_id)
    return PriorCase(staff_id, worker.team, child, "f-1", closed_at)


def may_take(w: Caseworker, r: Referral, availability: Availability) -> bool:
    return (
        has_started(w, DAY)
        and w.staff_id not in availability.absent | availability.excluded
        and allowed_for_new_hire(w, r, DAY, RULES)
    )


def spare(staff_id: str, loads) -> float:
    worker = next(w for w in STAFF if w.staff_id == staff_id)
    cap = capacity(worker, DAY, RULES, active_mentors(STAFF, DAY, RULES))
    return cap - loads.get(staff_id, Load()).weighted


@given(
    all_ids, all_loads, st.sets(all_ids, max_size=8), st.sets(all_ids, max_size=3), categories, st.booleans()
)
def test_the_child_of_an_open_case_always_follows_its_caseworker_when_at_work(
    owner, loads, absent, excluded, cats, acute
):
    assume(owner not in absent | excluded)
    r = referral(cats=cats, acute=acute)
    match = continuity_match(r, [prior_case(owner, "c-1", None)], NOW, 180)
    availability = Availability(frozenset(absent), frozenset(), frozenset(excluded))
    d = decide(situation(r, match=match, loads=loads, availability=availability), RULES, WEIGHTS)
    assert (d.staff_id, d.reason) == (owner, "continuity")
    assert d.team == next(w.team for w in STAFF if w.staff_id == owner)


@given(
    all_ids,
    st.sampled_from(["c-1", "c-2"]),
    CLOSED_RECENTLY,
    all_loads,
    st.sets(all_ids, max_size=8),
    st.sets(all_ids, max_size=3),
    categories,
    st.booleans(),
)
def test_family_or_closed_case_continuity_never_overfills_anyone_while_a_teammate_has_room(
    owner, child, closed_at, loads, absent, excluded, cats, acute
):
    assume(child != "c-1" or closed_at is not None)  # not the same child's open case
    r = referral(cats=cats, acute=acute)
    match = continuity_match(r, [prior_case(owner, child, closed_at)], NOW, 180)
    assert match is not None
    availability = Availability(frozenset(absent), frozenset(), frozenset(excluded))
    weight = WEIGHTS.weight(r.categories, r.acute_danger, r.interpreter_needed)
    try:
        d = decide(situation(r, match=match, loads=loads, availability=availability), RULES, WEIGHTS)
    except NoCandidate:
        assert owner in absent | excluded  # only when the caseworker is away and nobody else can
        return
    assert (d.team, d.reason) == (match.team, "continuity")
    assert d.staff_id not in absent | excluded
    teammates = [w for w in STAFF if w.team == match.team and w.staff_id != d.staff_id]
    if spare(d.staff_id, loads) < weight:
        assert not any(may_take(w, r, availability) and spare(w.staff_id, loads) >= weight for w in teammates)
    if owner not in absent | excluded and spare(owner, loads) >= weight:
        assert d.staff_id == owner


@given(
    st.one_of(st.none(), st.tuples(all_ids, st.sampled_from(["c-1", "c-2"]), CLOSED_RECENTLY)),
    all_loads,
    st.sets(all_ids, max_size=8),
    st.sets(all_ids, max_size=3),
)
def test_with_or_without_an_earlier_case_nobody_absent_or_excluded_is_chosen(
    earlier, loads, absent, excluded
):
    r = referral()
    match = continuity_match(r, [prior_case(*earlier)] if earlier else [], NOW, 180)
    availability = Availability(frozenset(absent), frozenset(), frozenset(excluded))
    try:
        d = decide(situation(r, match=match, loads=loads, availability=availability), RULES, WEIGHTS)
    except NoCandidate:
        return
    assert d.staff_id not in absent | excluded
    assert d.team == (match.team if match else DUTY.team)
