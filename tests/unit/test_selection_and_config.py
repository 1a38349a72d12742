from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.assignment.domain.model import Candidate
from services.assignment.domain.selection import NoCandidate, select_caseworker
from shared.unit_config import UnitConfigError, load_unit_config

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_caseworker_with_fewest_open_cases_is_chosen_with_a_reason():
    choice = select_caseworker(
        [Candidate("cw-a1", 5, T0), Candidate("cw-a2", 2, T0, "cw-a1"), Candidate("cw-a3", 4, T0)]
    )
    assert choice.staff_id == "cw-a2" and choice.mentor == "cw-a1"
    assert "fewest open cases" in choice.explanation


def test_ties_go_to_whoever_was_assigned_least_recently():
    later = datetime(2026, 1, 2, tzinfo=UTC)
    choice = select_caseworker(
        [Candidate("cw-a1", 3, later), Candidate("cw-a2", 3, T0), Candidate("cw-a3", 3, None)]
    )
    assert choice.staff_id == "cw-a3"


def test_an_empty_team_is_an_error_not_a_silent_choice():
    with pytest.raises(NoCandidate):
        select_caseworker([])


def test_the_example_unit_config_has_three_teams_of_six_and_the_documented_ids():
    config = load_unit_config(Path("deploy/config/unit.example.yaml"))
    assert [t.id for t in config.teams] == ["team-a", "team-b", "team-c"]
    assert all(len(t.members) == 6 for t in config.teams)
    assert {p.id for p in config.intake_group} == {"in-1", "in-2", "in-3", "in-4"}
    assert all(any(m.mentor for m in t.members) for t in config.teams)


def test_a_bad_unit_config_stops_with_a_message_naming_the_field(tmp_path):
    text = Path("deploy/config/unit.example.yaml").read_text("utf-8")
    bad = tmp_path / "unit.yaml"
    bad.write_text(text.replace("period_days: 14", "period_days: zero"), "utf-8")
    with pytest.raises(UnitConfigError, match=r"rotation\.period_days"):
        load_unit_config(bad)


def test_a_rotation_naming_an_unknown_team_is_refused(tmp_path):
    text = Path("deploy/config/unit.example.yaml").read_text("utf-8")
    bad = tmp_path / "unit.yaml"
    bad.write_text(text.replace("- team-c\n", "- team-x\n", 1), "utf-8")
    with pytest.raises(UnitConfigError, match="team-x"):
        load_unit_config(bad)
