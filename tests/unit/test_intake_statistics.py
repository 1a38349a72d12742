"""The national statistics (issue 23) in pure code and on fakes: the record's sex and age (as the
form gave them, never from the personal identity number), the
projection of assessments and decisions, the file's rows, and small-cell suppression on a
hand-made data set whose every expected cell is written out."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from referral_router.synthetic_data import check_digit, personal_number
from services.intake.adapters.memory import InMemoryIntakeUnitOfWork, InMemoryPollerTurn, IntakeTables
from services.intake.domain.referrals import Child, Referral
from services.intake.domain.statistics import (
    SEXES,
    CaseProgress,
    StatisticsRecord,
    age_at_receipt,
    age_in_years,
    projected,
)
from services.intake.domain.statistics_export import (
    COLUMNS,
    InvalidPeriod,
    age_band,
    period_bounds,
    row_of,
    statistics_rows,
)
from services.intake.handlers.open_eplatform import OepPolling, PollerConfig, PollTally, poll_round
from services.intake.handlers.statistics import project_decisions, statistics_for, statistics_records
from services.intake.handlers.submissions import receive_submission
from services.intake.subscribers import decided as decided_from_event
from shared.events import ReferralUpdated, new_envelope
from tests.factories import submission as submission_body
from tests.intake_fakes import FakePortal, as_received, clock, keys, portal_form, portal_submission

RNG = random.Random(23)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def record(n: int = 0, **changes: object) -> StatisticsRecord:
    base = StatisticsRecord(
        referral_id=f"R-{n:04d}", received_at=T0 + timedelta(hours=n), kind="report", channel="e_service",
        reporter_type="school", categories=("neglect",), acute_danger=False, sex="girl", age=9,
    )  # fmt: skip
    return StatisticsRecord(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def records_for(*children: dict[str, object]) -> tuple[StatisticsRecord, ...]:
    """The records `children` (portal child objects) get when a school reports them at T0."""
    body = submission_body(random.Random(3), children=len(children), submitted_at=T0)
    body["children"] = list(children)
    submission, _ = as_received(body)
    referrals = [Referral(f"R-{i}", i, f"c{i}", "f", False, ()) for i in range(len(children))]
    return statistics_records(submission, referrals)


def test_sex_is_what_the_form_gave_and_never_read_from_the_number():
    # Second-to-last digits 0 (even) and 1 (odd): the traditional reading would say female, male.
    even, odd = (f"20120301{serial}{check_digit(f'120301{serial}')}" for serial in ("980", "981"))
    records = records_for(
        {"personal_number": even, "sex": "boy"},
        {"personal_number": odd, "sex": "girl"},
        {"personal_number": even},  # not given: unknown, whatever the number says
        {"personal_number": odd, "sex": "other"},
        {"name": "Ture Provlund", "sex": "unknown"},
    )
    assert [r.sex for r in records] == ["boy", "girl", "unknown", "other", "unknown"]
    assert SEXES == ("girl", "boy", "other", "unknown")


def test_age_is_whole_years_on_the_local_receipt_date_from_the_given_birth_date_only():
    born = date(2016, 3, 3)
    number = personal_number(born, RNG)
    coordination = personal_number(born, RNG, coordination=True)
    # 22:30 UTC on 2 March is 23:30 in Stockholm: still the day before the tenth birthday.
    evening = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)
    assert age_at_receipt(Child(number, False, born), evening) == 9
    # 23:30 UTC is 00:30 on 3 March in Stockholm: ten today.
    assert age_at_receipt(Child(None, False, born), evening + timedelta(hours=1)) == 10
    # A number alone, ordinary or coordination, gives no age (DOMAIN.md §5).
    assert age_at_receipt(Child(number, False), evening) is None
    assert age_at_receipt(Child(coordination, False), evening) is None
    assert age_at_receipt(Child(None, False), evening) is None
    assert age_in_years(date(2026, 4, 1), date(2026, 3, 1)) is None  # a birth date after receipt
    # The given birth date wins even where it disagrees with the number's digits.
    assert age_at_receipt(Child(number, False, date(2020, 1, 1)), evening) == 6


def test_the_first_protection_assessment_is_kept_and_the_decision_is_recorded_with_its_time():
    r = record()
    first, again, decision = T0 + timedelta(hours=3), T0 + timedelta(days=1), T0 + timedelta(days=9)
    r = projected(r, CaseProgress(r.referral_id, first, True, None))
    r = projected(r, CaseProgress(r.referral_id, again, True, None))
    r = projected(r, CaseProgress(r.referral_id, decision, False, "no_investigation"))
    assert (r.protection_assessed_at, r.decision, r.decided_at) == (first, "no_investigation", decision)


def test_an_updated_event_becomes_a_decision_only_for_the_three_decisions_the_follow_up_knows():
    def event(event_type: str, **data: object) -> object:
        update = ReferralUpdated(referral_id="R-1", family_key="f-1", status="closed", at=T0, **data)  # type: ignore[arg-type]
        return new_envelope(event_type, update, producer="assignment", correlation_id="R-1")

    assert decided_from_event(event("referral.decided", decision="joined_ongoing")) == CaseProgress(
        "R-1", T0, False, "joined_ongoing"
    )
    assert decided_from_event(event("referral.decided", decision="something_new")).decision is None
    assert decided_from_event(
        event("referral.protection_assessed", outcome="no_immediate_need")
    ) == CaseProgress("R-1", T0, True, None)
    assert decided_from_event(event("investigation.closed")) == CaseProgress("R-1", T0, False, None)


def test_a_row_gives_the_month_and_the_days_to_assessment_and_decision_in_local_dates():
    received = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)  # 1 April 00:30 in Stockholm (summer time)
    r = record(
        received_at=received, categories=("violence", "neglect"), acute_danger=True,
        protection_assessed_at=received + timedelta(hours=2), decision="open_investigation",
        decided_at=datetime(2026, 4, 14, 12, 0, tzinfo=UTC),
    )  # fmt: skip
    row = row_of(r)
    assert row.cells(1) == (
        1, "2026-04", "report", "e_service", "school", "girl", 9, "neglect;violence", "yes", 0,
        "open_investigation", 13,
    )  # fmt: skip
    assert len(row.cells(1)) == len(COLUMNS)
    assert row_of(record(age=None)).age == "unknown"


def test_the_period_covers_whole_local_days_and_must_not_end_before_it_starts():
    start, end = period_bounds(date(2026, 1, 1), date(2026, 12, 31))
    assert start == datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
    assert end == datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    with pytest.raises(InvalidPeriod):
        period_bounds(date(2026, 2, 1), date(2026, 1, 31))
    with pytest.raises(InvalidPeriod):
        statistics_rows([record()], min_cell=1)


def test_age_bands():
    assert [age_band(a) for a in (0, 5, 6, 12, 13, 17, 18, 20)] == [
        "0-5", "0-5", "6-12", "6-12", "13-17", "13-17", "18+", "18+",
    ]  # fmt: skip


def published(rows: list[object]) -> list[tuple[object, ...]]:
    return [(r.received_month, r.reporter_category, r.sex, r.age) for r in rows]  # type: ignore[attr-defined]


def test_small_cells_are_generalised_step_by_step_until_every_combination_is_shared_by_three():
    """Hand-made: one month, cell size 3.

    - three 9-year-old girls reported by a school: common, published as they are;
    - single school reports about girls of 7, 8 and 11: each rare alone, three in the band 6-12
      (the 9-year-olds stay exact, so the band holds just these three);
    - police reports about boys of 15 and 16 and a health-care report about a boy of 14: two in
      the band with the police, so the reporter becomes its group and the three share
      "mandatory reporter, boy, 13-17";
    - a police report about a girl of 4, a relative's about a child of 2 of unknown sex and a
      school's about a child of 10 whose sex the form gave as other: rare at every step, so sex,
      age and reporter all go and nothing singles any of them out (a rare sex value is never
      published).
    """
    spec = [
        ("school", "girl", 9), ("school", "girl", 9), ("school", "girl", 9),
        ("school", "girl", 7), ("school", "girl", 8), ("school", "girl", 11),
        ("police", "boy", 15), ("police", "boy", 16), ("health_care", "boy", 14),
        ("police", "girl", 4), ("relative", "unknown", 2), ("school", "other", 10),
    ]  # fmt: skip
    records = [record(i, reporter_type=who, sex=sex, age=age) for i, (who, sex, age) in enumerate(spec)]

    rows = statistics_rows(records, min_cell=3)

    gone = ("2026-03", "suppressed", "suppressed", "suppressed")
    assert published(rows) == [
        *[("2026-03", "school", "girl", 9)] * 3,
        *[("2026-03", "school", "girl", "6-12")] * 3,
        *[("2026-03", "mandatory_reporter", "boy", "13-17")] * 3,
        gone, gone, gone,
    ]  # fmt: skip
    # What is not a quasi-identifier is published unchanged.
    assert [r.reason_categories for r in rows] == ["neglect"] * len(spec)


def test_with_a_larger_cell_size_more_is_suppressed_and_no_published_combination_is_rarer_than_it():
    rng = random.Random(5)
    records = [
        record(i, reporter_type=rng.choice(("school", "police", "health_care", "relative")),
               sex=rng.choice(SEXES), age=rng.choice((None, *range(18))))
        for i in range(400)
    ]  # fmt: skip
    for k in (3, 5, 10):
        rows = statistics_rows(records, min_cell=k)
        counts: dict[tuple[object, ...], int] = {}
        for row in rows:
            counts[(row.received_month, row.sex, str(row.age), row.reporter_category)] = (
                counts.get((row.received_month, row.sex, str(row.age), row.reporter_category), 0) + 1
            )
        fully_suppressed = ("suppressed", "suppressed", "suppressed")
        rare = {key: n for key, n in counts.items() if n < k and key[1:] != fully_suppressed}
        assert rare == {}, (k, rare)
        assert len(rows) == len(records)


async def test_a_stored_submission_gets_one_record_per_child_and_the_decision_reaches_the_file():
    tables = IntakeTables()
    submission, raw = portal_submission(random.Random(1), children=2, submitted_at=T0)
    received = await receive_submission(
        InMemoryIntakeUnitOfWork(tables), submission, raw, "dev-portal", keys(), clock()
    )
    ids = [r.referral_id for r in received.receipt.referrals]
    assert sorted(tables.statistics) == sorted(ids)
    first = tables.statistics[ids[0]]
    assert (first.kind, first.reporter_type, first.categories) == ("report", "school", ("neglect",))
    body = json.loads(raw)["children"][0]
    assert (first.sex, first.age) == (
        body["sex"],
        age_in_years(date.fromisoformat(body["birth_date"]), T0.date()),
    )
    assert first.sex in ("girl", "boy") and first.age is not None and 0 <= first.age <= 17

    uow = InMemoryIntakeUnitOfWork(tables)
    async with uow:
        await project_decisions(
            uow, [CaseProgress(ids[0], T0 + timedelta(days=3), False, "open_investigation")]
        )
        await project_decisions(uow, [CaseProgress("R-unknown", T0, False, "no_investigation")])  # skipped
        await uow.commit()

    rows = await statistics_for(InMemoryIntakeUnitOfWork(tables), date(2026, 3, 1), date(2026, 3, 31), 2)
    assert {(r.decision, r.decision_days) for r in rows} == {("open_investigation", 3), (None, None)}
    assert len(rows) == 2
    assert await statistics_for(InMemoryIntakeUnitOfWork(tables), date(2026, 4, 1), date(2026, 4, 30)) == []


def test_the_columns_are_the_ones_docs_statistics_md_documents_in_order():
    text = (Path(__file__).resolve().parents[2] / "docs" / "STATISTICS.md").read_text("utf-8")
    section = text.split("## Columns", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE) == [name for name, _ in COLUMNS]


async def test_an_open_eplatform_import_stores_its_records_like_a_portal_post():
    tables, portal = IntakeTables(), FakePortal()
    portal.add("101", portal_form(1001, T0, children=2), 1001)
    config = PollerConfig(families=("101",), start=T0 - timedelta(days=1), max_attempts=2)
    poll = OepPolling(
        lambda: InMemoryIntakeUnitOfWork(tables), portal, InMemoryPollerTurn(), config, keys(), clock()
    )
    await poll_round(poll, PollTally())
    assert sorted(tables.statistics) == sorted(tables.referrals)
    assert len(tables.statistics) == 2
    assert {r.received_at for r in tables.statistics.values()} == {T0}
