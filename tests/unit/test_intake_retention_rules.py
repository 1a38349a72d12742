"""The retention plan's pure rules (issue 23): when a referral's received copy may be erased."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.domain.retention import (
    Keep,
    RetentionCase,
    RetentionPlan,
    day_of_birth,
    decide,
    decide_all,
    in_research_sample,
    to_erase,
)
from services.intake.main import retention_plan
from shared.unit_config import UnitConfigError, load_unit_config

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
PLAN = RetentionPlan(erase_registered_after_days=90, research_sample_days=frozenset({5, 15, 25}))


def case(
    rid: str = "R-1", sid: str = "S-1", registered_days_ago: float | None = 91, **kw: bool
) -> RetentionCase:
    registered = None if registered_days_ago is None else NOW - timedelta(days=registered_days_ago)
    return RetentionCase(rid, sid, registered, kw.get("legal_hold", False), kw.get("research_sample", False))


def test_a_registered_referral_is_erased_n_days_after_registration_by_the_named_rule():
    erased = decide(case(registered_days_ago=90), PLAN, NOW)
    assert erased.erase and erased.rule == "received_copy_after_registration:90d"
    assert decide(case(registered_days_ago=89.99), PLAN, NOW).kept is Keep.NOT_DUE


def test_an_unregistered_referral_is_never_erased_automatically_however_old():
    assert decide(case(registered_days_ago=None), PLAN, NOW).kept is Keep.NOT_REGISTERED
    assert (
        decide(case(registered_days_ago=None), RetentionPlan(0), NOW + timedelta(days=36500)).erase is False
    )


def test_a_legal_hold_keeps_a_referral_that_is_otherwise_due():
    assert decide(case(registered_days_ago=400, legal_hold=True), PLAN, NOW).kept is Keep.LEGAL_HOLD


def test_the_research_sample_is_kept_where_configured_and_erased_where_not():
    assert decide(case(research_sample=True), PLAN, NOW).kept is Keep.RESEARCH_SAMPLE


def test_without_a_rule_nothing_is_erased():
    assert decide(case(registered_days_ago=10_000), RetentionPlan(None), NOW).kept is Keep.NO_RULE


def test_siblings_share_one_received_copy_so_one_kept_keeps_the_other():
    decisions = decide_all(
        [case("R-2", "S-1"), case("R-1", "S-1", legal_hold=True), case("R-3", "S-2")], PLAN, NOW
    )
    assert [(d.referral_id, d.erase, d.kept) for d in decisions] == [
        ("R-1", False, Keep.LEGAL_HOLD),
        ("R-2", False, Keep.SIBLING_KEPT),
        ("R-3", True, None),
    ]
    assert [d.referral_id for d in to_erase(decisions)] == ["R-3"]


def test_the_day_of_birth_comes_from_the_number_or_a_coordination_numbers_day_less_60_or_the_birth_date():
    assert day_of_birth("201504159824", None) == 15
    assert day_of_birth("195707749959", None) == 14  # coordination number: day 74
    assert day_of_birth(None, date(2019, 3, 25)) == 25
    assert day_of_birth(None, None) is None
    assert in_research_sample(5, PLAN) and not in_research_sample(6, PLAN)
    assert not in_research_sample(None, PLAN)
    assert not in_research_sample(5, RetentionPlan(90))


cases = st.builds(
    RetentionCase,
    referral_id=st.sampled_from([f"R-{i}" for i in range(8)]),
    submission_id=st.sampled_from(["S-1", "S-2", "S-3"]),
    registered_at=st.none() | st.integers(0, 400).map(lambda d: NOW - timedelta(days=d)),
    legal_hold=st.booleans(),
    research_sample=st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(cases, max_size=12, unique_by=lambda c: c.referral_id))
def test_nothing_is_erased_unregistered_held_sampled_or_beside_a_kept_sibling(all_cases):
    decisions = decide_all(all_cases, PLAN, NOW)
    by_id = {c.referral_id: c for c in all_cases}
    kept_submissions = {d.submission_id for d in decisions if not d.erase}
    for d in to_erase(decisions):
        c = by_id[d.referral_id]
        assert c.registered_at is not None and not c.legal_hold and not c.research_sample
        assert NOW - c.registered_at >= timedelta(days=90)
        assert d.submission_id not in kept_submissions
    assert sorted(d.referral_id for d in decisions) == sorted(by_id)


def test_a_bad_retention_section_stops_start_up_naming_the_field(tmp_path):
    example = Path(__file__).resolve().parents[2] / "deploy" / "config" / "unit.example.yaml"
    raw = yaml.safe_load(example.read_text("utf-8"))
    assert retention_plan(load_unit_config(example)) == RetentionPlan(None, frozenset({5, 15, 25}))
    for bad, field in (
        ({"research_sample_days": [5, 32]}, "retention.research_sample_days"),
        ({"erase_registered_after_days": -1}, "retention.erase_registered_after_days"),
        ({"erase_after_days": 90}, "retention.erase_after_days"),
    ):
        path = tmp_path / "unit.yaml"
        path.write_text(yaml.safe_dump({**raw, "retention": bad}, allow_unicode=True), "utf-8")
        with pytest.raises(UnitConfigError, match=field.replace(".", r"\.")):
            load_unit_config(path)
