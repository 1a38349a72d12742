"""The outcome report's figures, each checked against a small data set computed by hand.

Period 2026-01-01..2026-02-28 (Stockholm), change date 2026-02-01 (before = January, after =
February), as of 2026-03-15. Roster (mentoring 24 months):
  a1 team-a 1.0 FTE hired 2020 | a2 team-a 0.5 FTE hired 2026-01-10, mentor a1
  b1 team-b 1.0 FTE hired 2020, left 2026-02-10 | b2 team-b 1.0 FTE hired 2025-06-01, no mentor
Absences: a1 sick 01-30..02-02, b2 sick 02-10..02-12, b2 leave 01-05..01-09, a2 course 02-16..17.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.assignment.domain.outcome import (
    AbsenceRecord,
    CaseRecord,
    FlagRecord,
    IncidentRecord,
    InvalidReportPeriod,
    Measure,
    OutcomeData,
    Roster,
    StaffRecord,
    coefficient_of_variation,
    months_of,
    outcome_report,
    percentile_90,
    point_in_time,
    point_in_time_window,
)

TZ = ZoneInfo("Europe/Stockholm")
AS_OF = datetime(2026, 3, 15, 12, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def case(
    rid: str,
    team: str,
    cw: str,
    received: str,
    prot_due: str,
    prot_done: str | None,
    prel_due: str,
    decided: str | None,
    opened: str | None,
    closed: str | None,
) -> CaseRecord:
    return CaseRecord(
        rid,
        team,
        cw,
        at(received),
        at(prot_due),
        at(prot_done) if prot_done else None,
        at(prel_due),
        at(decided) if decided else None,
        date.fromisoformat(opened) if opened else None,
        at(closed) if closed else None,
    )


CASES = (
    # Clocks of c1..c4 fell in 2025: only their investigations count here.
    case("c1", "team-a", "a1", "2025-12-01T10:00", "2025-12-01T16:00", "2025-12-01T12:00",
         "2025-12-15T22:59:59", "2025-12-05T10:00", "2025-12-05", "2026-01-20T10:00"),
    case("c2", "team-a", "a2", "2025-08-20T10:00", "2025-08-20T16:00", "2025-08-20T12:00",
         "2025-09-03T21:59:59", "2025-09-10T10:00", "2025-09-10", "2026-01-12T10:00"),
    case("c3", "team-b", "b1", "2025-10-01T10:00", "2025-10-01T16:00", "2025-10-01T12:00",
         "2025-10-15T21:59:59", "2025-10-15T10:00", "2025-10-15", "2026-02-13T10:00"),
    case("c4", "team-b", "b2", "2025-09-01T10:00", "2025-09-01T16:00", "2025-09-01T12:00",
         "2025-09-15T21:59:59", "2025-09-20T10:00", "2025-09-20", None),
    case("c5", "team-a", "a1", "2026-01-05T09:00", "2026-01-05T16:00", "2026-01-05T15:00",
         "2026-01-19T22:59:59", "2026-01-16T10:00", "2026-01-16", None),
    case("c6", "team-b", "b2", "2026-02-02T09:00", "2026-02-02T16:00", "2026-02-03T08:00",
         "2026-02-16T22:59:59", "2026-02-20T10:00", "2026-02-20", None),
    case("c7", "team-a", "a2", "2026-02-20T09:00", "2026-02-20T16:00", "2026-02-20T10:00",
         "2026-03-06T22:59:59", None, None, None),
    case("c8", "team-a", "a1", "2026-01-25T09:00", "2026-01-26T11:00", None,
         "2026-02-08T22:59:59", None, None, None),
)  # fmt: skip
ROSTER = Roster(
    (
        StaffRecord("a1", "team-a", "caseworker", 1.0, date(2020, 1, 1), None, None),
        StaffRecord("a2", "team-a", "caseworker", 0.5, date(2026, 1, 10), None, "a1"),
        StaffRecord("b1", "team-b", "caseworker", 1.0, date(2020, 1, 1), date(2026, 2, 10), None),
        StaffRecord("b2", "team-b", "caseworker", 1.0, date(2025, 6, 1), None, None),
    ),
    mentoring_months=24,
)
DATA = OutcomeData(
    CASES,
    (
        AbsenceRecord("a1", date(2026, 1, 30), date(2026, 2, 2), "sick"),
        AbsenceRecord("b2", date(2026, 2, 10), date(2026, 2, 12), "sick"),
        AbsenceRecord("b2", date(2026, 1, 5), date(2026, 1, 9), "leave"),
        AbsenceRecord("a2", date(2026, 2, 16), date(2026, 2, 17), "course"),
    ),
    (
        FlagRecord(at("2026-01-31T23:30"), "team-a"),  # 00:30 on 1 February in Stockholm
        FlagRecord(at("2026-01-15T10:00"), "team-b"),
    ),
    (
        IncidentRecord(date(2026, 2, 3), "threat", "team-b"),
        IncidentRecord(date(2026, 2, 4), "violence", None),
    ),
)


@pytest.fixture(scope="module")
def measures() -> dict[str, Measure]:
    report = outcome_report(DATA, ROSTER, TZ, date(2026, 1, 1), date(2026, 2, 28), date(2026, 2, 1), AS_OF)
    return {m.id: m for m in report.measures}


def monthly(m: Measure, team: str | None = None) -> list[float | None]:
    return [v.value for v in m.monthly if v.team == team]


def figures(m: Measure) -> tuple[float | None, float | None, float | None]:
    return m.before, m.after, m.whole


def test_lead_times_by_closing_month(measures: dict[str, Measure]) -> None:
    # c1 12-05→01-20 = 26+20 = 46 days; c2 09-10→01-12 = 20+31+30+31+12 = 124; c3 10-15→02-13 =
    # 16+30+31+31+13 = 121. January: median (46+124)/2 = 85, p90 rank ceil(1.8)=2 → 124.
    median, p90 = measures["investigation_lead_time_median"], measures["investigation_lead_time_p90"]
    assert monthly(median) == [85.0, 121.0]
    assert monthly(median, "team-a") == [85.0, None]
    assert monthly(median, "team-b") == [None, 121.0]
    assert monthly(p90) == [124.0, 121.0]
    # Whole: [46, 121, 124] → median 121, p90 rank ceil(2.7)=3 → 124.
    assert figures(median) == (85.0, 121.0, 121.0)
    assert figures(p90) == (124.0, 121.0, 124.0)


def test_investigations_within_four_months_by_the_month_the_limit_ends(measures: dict[str, Measure]) -> None:
    # Limits: c2 01-10 (closed 01-12: late), c4 01-20 (still open: late), c3 02-15 (closed 02-13).
    m = measures["investigations_within_limit"]
    assert monthly(m) == [0.0, 1.0]
    assert monthly(m, "team-b") == [0.0, 1.0]
    assert figures(m) == (0.0, 1.0, pytest.approx(1 / 3))


def test_preliminary_and_protection_assessments(measures: dict[str, Measure]) -> None:
    # Preliminary due in Jan: c5 (on time); in Feb: c6 (decided 02-20 > 02-16), c8 (never, past).
    prel = measures["preliminary_on_time"]
    assert monthly(prel) == [1.0, 0.0]
    assert figures(prel) == (1.0, 0.0, pytest.approx(1 / 3))
    # Protection due in Jan: c5 on time, c8 never done → 1/2; Feb: c6 late, c7 on time → 1/2.
    prot = measures["protection_on_time"]
    assert monthly(prot) == [0.5, 0.5]
    assert monthly(prot, "team-a") == [0.5, 1.0]
    assert monthly(prot, "team-b") == [None, 0.0]
    assert figures(prot) == (0.5, 0.5, 0.5)


def test_caseload_per_fte_and_its_evenness(measures: dict[str, Measure]) -> None:
    # 31 Jan: open c3 (b1), c4 (b2), c5 (a1); a1 is sick, so FTE = a2 0.5 + b1 1 + b2 1 = 2.5 →
    # 3/2.5 = 1.2; team-a 1/0.5 = 2, team-b 2/2 = 1. 28 Feb: open c4, c5, c6; FTE = a1 1 + a2 0.5
    # + b2 1 = 2.5 → 1.2; team-a 1/1.5, team-b 2/1.
    load = measures["caseload_per_fte"]
    assert monthly(load) == [1.2, 1.2]
    assert monthly(load, "team-a") == [2.0, pytest.approx(2 / 3)]
    assert monthly(load, "team-b") == [1.0, 2.0]
    assert figures(load) == (1.2, 1.2, 1.2)
    # Evenness: Jan team-b b1 1, b2 1 → CV 0 (team-a has only a2: undefined). Feb team-a a1 1/1,
    # a2 0/0.5 → mean 0.5, sd 0.5 → CV 1 (team-b has only b2). Unit = mean over teams.
    even = measures["caseload_evenness"]
    assert monthly(even) == [0.0, 1.0]
    assert monthly(even, "team-a") == [None, 1.0]
    assert figures(even) == (0.0, 1.0, 0.5)


def test_sick_leave_and_planned_leave_per_fte(measures: dict[str, Measure]) -> None:
    # Jan FTE-days: a1 31 + a2 0.5×22 (from 01-10) + b1 31 + b2 31 = 104 → mean 104/31. Sick: a1
    # 01-30, 01-31 = 2 → 2/(104/31) = 62/104. Feb FTE-days: a1 28 + a2 14 + b1 10 (to 02-10) + b2
    # 28 = 80 → 80/28. Sick: a1 2 + b2 3 = 5 → 140/80 = 1.75. The course is neither.
    sick = measures["sick_leave_days_per_fte"]
    assert monthly(sick) == [pytest.approx(62 / 104), pytest.approx(1.75)]
    # team-a Jan: 2/(42/31) = 62/42; Feb 2/(42/28) = 56/42. team-b Feb: 3/(38/28) = 84/38.
    assert monthly(sick, "team-a") == [pytest.approx(62 / 42), pytest.approx(56 / 42)]
    assert monthly(sick, "team-b") == [0.0, pytest.approx(84 / 38)]
    assert figures(sick) == (
        pytest.approx(62 / 104),
        pytest.approx(1.75),
        pytest.approx((62 / 104 + 1.75) / 2),
    )
    leave = measures["planned_leave_days_per_fte"]  # b2 5 days in Jan → 5/(104/31) = 155/104
    assert monthly(leave) == [pytest.approx(155 / 104), 0.0]


def test_joining_leaving_and_mentoring(measures: dict[str, Measure]) -> None:
    assert monthly(measures["staff_joined"]) == [1.0, 0.0]  # a2 on 01-10
    assert monthly(measures["staff_left"]) == [0.0, 1.0]  # b1 on 02-10
    assert figures(measures["staff_joined"]) == (1.0, 0.0, 0.5)
    # New hires within 24 months at each month end: a2 (mentor) and b2 (none) → 1/2.
    mentoring = measures["mentoring_coverage"]
    assert monthly(mentoring) == [0.5, 0.5]
    assert monthly(mentoring, "team-a") == [1.0, 1.0]
    assert monthly(mentoring, "team-b") == [0.0, 0.0]


def test_flags_and_incidents_by_local_month(measures: dict[str, Measure]) -> None:
    flags = measures["overload_flags_raised"]
    assert monthly(flags) == [1.0, 1.0]
    assert monthly(flags, "team-a") == [0.0, 1.0]  # 23:30 UTC on 31 Jan is February in Stockholm
    incidents = measures["incidents_recorded"]
    assert monthly(incidents) == [0.0, 2.0]
    assert monthly(incidents, "team-b") == [0.0, 1.0]
    assert figures(incidents) == (0.0, 2.0, 1.0)


def test_without_a_change_date_there_is_no_before_or_after() -> None:
    report = outcome_report(DATA, ROSTER, TZ, date(2026, 1, 1), date(2026, 2, 28), None, AS_OF)
    lead = report.measures[0]
    assert (lead.before, lead.after, lead.whole) == (None, None, 121.0)


def test_months_not_yet_ended_have_no_stock_figures() -> None:
    as_of = datetime(2026, 2, 15, 12, tzinfo=UTC)
    report = outcome_report(DATA, ROSTER, TZ, date(2026, 1, 1), date(2026, 2, 28), None, as_of)
    load = next(m for m in report.measures if m.id == "caseload_per_fte")
    assert monthly(load) == [1.2, None]


def test_months_are_clipped_to_the_period() -> None:
    months = months_of(date(2026, 1, 15), date(2026, 3, 3))
    assert [(m.key, m.first, m.last) for m in months] == [
        ("2026-01", date(2026, 1, 15), date(2026, 1, 31)),
        ("2026-02", date(2026, 2, 1), date(2026, 2, 28)),
        ("2026-03", date(2026, 3, 1), date(2026, 3, 3)),
    ]


@pytest.mark.parametrize(
    ("start", "end", "change", "field"),
    [
        (date(2026, 2, 1), date(2026, 1, 1), None, "to"),
        (date(2022, 1, 1), date(2026, 1, 1), None, "to"),
        (date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1), "change_date"),
    ],
)
def test_a_bad_period_names_its_field(start: date, end: date, change: date | None, field: str) -> None:
    with pytest.raises(InvalidReportPeriod) as raised:
        outcome_report(DATA, ROSTER, TZ, start, end, change, AS_OF)
    assert raised.value.field_name == field


def test_statistics_helpers() -> None:
    assert percentile_90([float(v) for v in range(1, 11)]) == 9.0  # rank ceil(9) = 9
    assert coefficient_of_variation([2.0, 4.0]) == pytest.approx(1 / 3)  # sd 1 ÷ mean 3
    assert coefficient_of_variation([0.0, 0.0]) is None


def test_point_in_time_figures_of_the_last_90_days() -> None:
    # Now 28 Feb: the window is 1 Dec – 28 Feb. Lead times [46, 124, 121] → median 121, p90 124.
    # Limits in it: c2 late, c4 late (open), c3 on time → 1/3. Preliminary due: c1 (12-15, on time),
    # c5 on time, c6 late, c8 never → 2/4. Protection due: c1, c5, c7 on time; c6, c8 late → 3/5.
    now = datetime(2026, 2, 28, 12, tzinfo=UTC)
    first, last = point_in_time_window(now, TZ)
    assert (first, last) == (date(2025, 12, 1), date(2026, 2, 28))
    figures = point_in_time(DATA, ROSTER, TZ, now)
    assert (figures.lead_time_median, figures.lead_time_p90) == (121.0, 124.0)
    assert figures.within_limit == pytest.approx(1 / 3)
    assert (figures.preliminary_on_time, figures.protection_on_time) == (0.5, 0.6)
    # Now as at the end of February (above); sick leave of January, the last full month.
    assert figures.caseload_per_fte == {"team-a": pytest.approx(2 / 3), "team-b": 2.0}
    assert figures.sick_leave_days_per_fte == pytest.approx(62 / 104)
    assert figures.mentoring_coverage == 0.5
