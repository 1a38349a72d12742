"""The portal simulator's mix (DOMAIN.md §4, §7) and that intake accepts every submission it makes."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from referral_router.portal_simulator import SimClock
from referral_router.referral_mix import BIG_FOUR, ReportMaker
from services.intake.domain.personal_numbers import normalise_personal_number
from services.intake.domain.reporting import MANDATORY_REPORTERS
from services.intake.schemas import Submission, validation_context

N = 3000
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def reports():
    maker = ReportMaker(random.Random(2026))
    return [maker.make(NOW - timedelta(hours=N - i)) for i in range(N)]


def share(reports, predicate) -> float:
    return sum(1 for r in reports if predicate(r)) / len(reports)


def test_about_sixty_percent_come_from_police_school_preschool_and_health_care(reports):
    assert 0.55 <= share(reports, lambda r: r.body["reporter"]["type"] in BIG_FOUR) <= 0.65
    kinds = Counter(r.body["reporter"]["type"] for r in reports)
    assert all(kinds[k] > 0.05 * N for k in BIG_FOUR)


def test_some_private_reporters_are_anonymous_and_then_give_no_name_or_contact(reports):
    anonymous = [r.body["reporter"] for r in reports if r.body["reporter"]["anonymous"]]
    assert 0.03 * N <= len(anonymous) <= 0.15 * N
    assert {a["type"] for a in anonymous} <= {"private_person", "relative"}
    for reporter in anonymous:
        assert not {"name", "organisation", "role", "phone", "email"} & reporter.keys()
    mandatory = [r.body["reporter"] for r in reports if r.body["reporter"]["type"] in MANDATORY_REPORTERS]
    assert not any(m["anonymous"] for m in mandatory)


def test_siblings_in_about_a_quarter_of_first_reports(reports):
    first = [r for r in reports if not r.repeat]
    assert 0.20 <= share(first, lambda r: len(r.body["children"]) > 1) <= 0.30


def test_a_few_acute_and_a_few_protected_identity_children(reports):
    assert 0.02 <= share(reports, lambda r: r.body["concern"]["acute_danger"]) <= 0.08
    children = [c for r in reports for c in r.body["children"]]
    protected = sum(c["protected_identity"] for c in children) / len(children)
    assert 0.01 <= protected <= 0.06


def test_repeat_reports_reuse_earlier_childrens_numbers():
    maker = ReportMaker(random.Random(11))
    known: set[str] = set()  # every number of every family reported so far (even if not given)
    repeats = reused = 0
    for i in range(N):
        report = maker.make(NOW - timedelta(hours=N - i))
        numbers = {c["personal_number"] for c in report.body["children"]} - {None}
        if report.repeat:
            repeats += 1
            assert numbers <= known
            reused += bool(numbers)
        else:
            assert not numbers & known
            known |= set(maker.families[-1].children)
    assert 0.10 * N <= repeats <= 0.20 * N
    assert reused > 0.08 * N


def test_every_submission_passes_intakes_own_validation(reports):
    for report in reports:
        submitted = datetime.fromisoformat(report.body["submitted_at"])
        Submission.model_validate(report.body, context=validation_context(NOW))
        assert submitted <= NOW


def test_personal_numbers_are_synthetic_with_valid_check_digits(reports):
    for report in reports:
        for person in [*report.body["children"], *report.body["guardians"]]:
            number = person["personal_number"]
            if number is not None:
                assert normalise_personal_number(number, NOW.date()) == number
                assert 980 <= int(number[8:11]) <= 999  # the synthetic serial range


def test_most_children_come_with_a_sex_and_a_birth_date_that_agree_with_their_number(reports):
    children = [c for r in reports for c in r.body["children"]]
    sexes = Counter(c.get("sex", "unknown") for c in children)
    assert set(sexes) == {"girl", "boy", "other", "unknown"}
    assert 0.85 <= 1 - sexes["unknown"] / len(children) <= 0.95
    assert 0.4 <= sexes["girl"] / len(children) <= 0.5 and 0.4 <= sexes["boy"] / len(children) <= 0.5
    with_date = [c for c in children if c["birth_date"]]
    assert 0.8 <= len(with_date) / len(children) <= 0.9
    for child in with_date:
        number = child["personal_number"]
        if number:  # the generator made the number from this date (a coordination number: day + 60)
            day = int(number[6:8])
            assert child["birth_date"] == f"{number[:4]}-{number[4:6]}-{day - 60 if day > 60 else day:02d}"


def test_a_child_reported_again_keeps_its_sex_and_birth_date():
    maker = ReportMaker(random.Random(12))
    seen: dict[str, tuple[str, str]] = {}
    checked = 0
    for i in range(N):
        for child in maker.make(NOW - timedelta(hours=N - i)).body["children"]:
            number, sex, born = child["personal_number"], child.get("sex"), child["birth_date"]
            if number is None or sex is None or born is None:
                continue
            checked += number in seen
            assert seen.setdefault(number, (sex, born)) == (sex, born)
    assert checked > 0.05 * N


def test_the_same_seed_gives_the_same_reports():
    a = ReportMaker(random.Random(7)).make(NOW).body
    b = ReportMaker(random.Random(7)).make(NOW).body
    assert a == b


def test_an_accelerated_clock_starts_in_the_past_runs_faster_and_never_passes_now():
    clock = SimClock(factor=3600.0, backdate=timedelta(days=2))
    first = clock.now()
    assert datetime.now(UTC) - first > timedelta(days=1, hours=23)
    time.sleep(0.05)
    second = clock.now()
    assert second - first >= timedelta(seconds=0.05 * 3600)
    assert clock.accelerated
    caught_up = SimClock(factor=1e9, backdate=timedelta(seconds=10))
    time.sleep(0.01)
    assert caught_up.now() <= datetime.now(UTC)
    assert not caught_up.accelerated


def test_an_unaccelerated_clock_is_the_wall_clock():
    clock = SimClock()
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)
    assert not clock.accelerated
