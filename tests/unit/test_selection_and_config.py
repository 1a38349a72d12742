from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.assignment.domain.model import Candidate, CapacityRules, Caseworker
from services.assignment.domain.selection import NoCandidate, select_caseworker
from services.assignment.domain.workload import active_mentors, capacity, months_since
from services.assignment.unit_from_config import (
    capacity_rules,
    caseworkers,
    deadline_rules,
    unit_from_config,
    weight_rules,
)
from shared.unit_config import UnitConfigError, load_unit_config

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EXAMPLE = Path("deploy/config/unit.example.yaml")


def test_the_caseworker_with_most_spare_capacity_is_chosen_with_a_reason():
    choice = select_caseworker(
        [
            Candidate("cw-a1", 5, T0, None, 500, 1500),  # loads and capacities in hundredths
            Candidate("cw-a2", 2, T0, "cw-a1", 200, 600),
            Candidate("cw-a3", 4, T0, None, 400, 1500),
        ]
    )
    assert choice.staff_id == "cw-a3"  # 4 of 15 is less used than 2 of 6
    assert "most spare capacity" in choice.explanation and "4.0 of 15.0" in choice.explanation


def test_ties_go_to_whoever_was_assigned_least_recently():
    later = datetime(2026, 1, 2, tzinfo=UTC)
    choice = select_caseworker(
        [Candidate("cw-a1", 3, later), Candidate("cw-a2", 3, T0), Candidate("cw-a3", 3, None)]
    )
    assert choice.staff_id == "cw-a3"


def test_an_empty_team_is_an_error_not_a_silent_choice():
    with pytest.raises(NoCandidate):
        select_caseworker([])


candidate_lists = st.lists(
    st.builds(
        lambda i, load, cap: Candidate(f"cw-{i}", load // 100, None, None, load, cap),
        st.integers(0, 10_000),
        st.integers(0, 4000),
        st.integers(50, 2000),
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda c: c.staff_id,
)


@given(candidate_lists, st.integers(50, 300))
def test_nobody_is_pushed_over_capacity_while_a_teammate_has_room(candidates, weight):
    chosen = next(c for c in candidates if c.staff_id == select_caseworker(candidates, weight).staff_id)
    if chosen.weighted_load + weight > chosen.capacity:
        assert all(c.spare < weight for c in candidates)


@given(candidate_lists, st.integers(50, 300))
def test_among_those_a_case_fits_the_least_used_relative_to_capacity_is_chosen(candidates, weight):
    chosen = next(c for c in candidates if c.staff_id == select_caseworker(candidates, weight).staff_id)
    fitting = [c for c in candidates if c.spare >= weight]
    if fitting:
        assert chosen in fitting
        assert (
            chosen.weighted_load / chosen.capacity
            <= min(c.weighted_load / c.capacity for c in fitting) + 1e-6
        )


def test_capacity_is_reduced_for_part_time_mentors_and_ramped_for_new_hires():
    rules = CapacityRules(max_load=15.0, mentoring_share=0.5, ramp=((3, 0.4), (12, 0.8)))
    hire = Caseworker("cw-new", "team-a", 1.0, date(2026, 9, 1), "cw-old")
    mentor = Caseworker("cw-old", "team-a", 0.8)
    mentors = active_mentors([hire, mentor], date(2026, 10, 1), rules)
    assert mentors == {"cw-old"}
    # in hundredths of a case, as loads are
    assert capacity(mentor, date(2026, 10, 1), rules, mentors) == 0.8 * 1500 * 0.5
    assert capacity(hire, date(2026, 10, 1), rules, mentors) == 1500 * 0.4
    assert capacity(hire, date(2027, 1, 1), rules, mentors) == 1500 * 0.8
    assert capacity(hire, date(2027, 9, 1), rules, mentors) == 1500
    assert active_mentors([hire, mentor], date(2028, 9, 1), rules) == frozenset()


def test_months_since_hire_count_whole_months():
    assert months_since(date(2026, 9, 15), date(2026, 10, 14)) == 0
    assert months_since(date(2026, 9, 15), date(2026, 10, 15)) == 1


def test_the_example_unit_config_has_three_teams_of_six_and_the_documented_ids():
    config = load_unit_config(EXAMPLE)
    assert [t.id for t in config.teams] == ["team-a", "team-b", "team-c"]
    assert all(len(t.members) == 6 for t in config.teams)
    assert {p.id for p in config.intake_group} == {"in-1", "in-2", "in-3", "in-4"}
    assert all(any(m.mentor and m.hire_date for m in t.members) for t in config.teams)
    assert config.rotation.anchor.isoformat() == "2026-01-05T08:00:00+01:00"
    assert config.assignment_policy == "next_office_hours"


def test_the_example_config_translates_into_the_domain_rules():
    config = load_unit_config(EXAMPLE)
    assert len(caseworkers(config)) == 18
    assert capacity_rules(config).mentoring_share == 0.5
    assert weight_rules(config).weight(("sexual_abuse",), True, True) == 225  # 2.25 cases
    assert deadline_rules(config).reminders["protection_assessment"] == (timedelta(hours=2),)


def test_a_bad_unit_config_stops_with_a_message_naming_the_field(tmp_path):
    text = EXAMPLE.read_text("utf-8")
    bad = tmp_path / "unit.yaml"
    bad.write_text(text.replace("period_days: 14", "period_days: zero"), "utf-8")
    with pytest.raises(UnitConfigError, match=r"rotation\.period_days"):
        load_unit_config(bad)


@pytest.mark.parametrize(
    ("original", "broken", "field"),
    [
        ("mentoring_share: 0.5", "mentoring_share: 1.5", r"assignment\.new_hires\.mentoring_share"),
        ("max_load: 20.0", "max_load: -1", r"assignment\.caseload\.max_load"),
        ("protection_assessment: [PT2H]", "protection_assessment: [soon]", r"deadlines\.reminders"),
        ("    employment_rate: 0.8\n", "    employment_rate: 2\n", r"teams\.0\.members\.5\.employment_rate"),
    ],
)
def test_bad_assignment_and_deadline_settings_are_refused_naming_the_field(tmp_path, original, broken, field):
    bad = tmp_path / "unit.yaml"
    bad.write_text(EXAMPLE.read_text("utf-8").replace(original, broken, 1), "utf-8")
    with pytest.raises(UnitConfigError, match=field):
        load_unit_config(bad)


def test_a_rotation_naming_an_unknown_team_is_refused(tmp_path):
    text = EXAMPLE.read_text("utf-8")
    bad = tmp_path / "unit.yaml"
    bad.write_text(text.replace("- team-c\n", "- team-x\n", 1), "utf-8")
    with pytest.raises(UnitConfigError, match="team-x"):
        load_unit_config(bad)


def test_a_notification_route_for_an_unknown_event_type_is_refused_naming_it(tmp_path):
    text = Path("deploy/config/unit.example.yaml").read_text("utf-8")
    bad = tmp_path / "unit.yaml"
    bad.write_text(
        text.replace("    deadline.breached: [caseworker, manager]", "    deadline.breachd: [manager]"),
        "utf-8",
    )
    with pytest.raises(UnitConfigError, match=r"notifications\.routes\.deadline\.breachd"):
        load_unit_config(bad)


def test_a_weight_finer_than_a_hundredth_of_a_case_is_refused_naming_the_field(tmp_path):
    """Loads are exact sums of whole hundredths; a weight of 1.125 could not be one."""
    bad = tmp_path / "unit.yaml"
    bad.write_text(EXAMPLE.read_text("utf-8").replace("violence: 1.25", "violence: 1.125", 1), "utf-8")
    with pytest.raises(UnitConfigError, match=r"assignment\.caseload\.weights\.categories\.violence"):
        unit_from_config(load_unit_config(bad))
    assert unit_from_config(load_unit_config(EXAMPLE)).weights.categories["violence"] == 125
