"""The outcome report (issue 22, part 4): what the reorganisation claimed, measured for the unit.

Pure: plain records in, figures out. Every measure is computed per calendar month (local time of
the unit) of a period, per team where that means something, and over the months before and from
an optional change date. How each figure is defined (docs/WORKING_ENVIRONMENT.md, "The outcome
report", says the same in prose):

- Lead time of an investigation: the local closing day minus the opening day (the decision to
  open, `investigation_opened_on`), in days; by the month it closed. Median and 90th percentile
  (nearest rank: the ceil(0.9·n)-th smallest).
- Within the limit: an investigation whose four months (20 kap. 3 §, `deadlines.add_months`,
  extensions not counted) end in the month, closed on or before that day. One still open after
  its last day counts as late; one whose last day is after `as_of` is left out.
- Preliminary assessments within 14 days and protection assessments on time: the same, by the
  month the due time falls in; done at or before the stored due time.
- Caseload per FTE: open investigations at the end of the month's last day ÷ the employment rate
  summed over caseworkers employed and not absent that day. Evenness: the coefficient of
  variation (population standard deviation ÷ mean) of open investigations per FTE among those
  caseworkers, per team (0 = perfectly even); the unit's value is the mean over teams.
- Sick-leave days per FTE: calendar days of absences of kind `sick` in the month ÷ the mean FTE
  employed over the month's days; planned leave (kind `leave`) the same, apart.
- Joined / left: people whose hire_date / left_on falls in the month.
- Mentoring coverage: among caseworkers employed at the month's end whose hire_date lies within
  `mentoring_months` before it, the share with a mentor.
- Overload flags raised and incidents recorded: counts by the month raised / occurred.

Before/after/whole: shares and lead times pooled over every item in the months concerned; counts
and per-FTE figures as the mean of the monthly values. A month belongs to "after" when it starts
on or after the first day of the change date's month.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from services.assignment.domain.deadlines import add_months
from services.assignment.domain.workload import employed

INVESTIGATION_MONTHS = 4
MAX_SPAN_DAYS = 3 * 366
EARLIEST, LATEST = date(2000, 1, 1), date(2199, 12, 31)  # dates a report can mean


class InvalidReportPeriod(ValueError):
    """The period or change date of a report cannot be used (the message names the field)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field_name = field_name


@dataclass(frozen=True)
class CaseRecord:
    """What the report reads of a referral: its team, its clocks and when things happened."""

    referral_id: str
    team: str
    caseworker: str
    received_at: datetime
    protection_due: datetime
    protection_done_at: datetime | None
    preliminary_due: datetime
    decided_at: datetime | None
    investigation_opened_on: date | None
    closed_at: datetime | None


@dataclass(frozen=True)
class AbsenceRecord:
    staff_id: str
    starts_on: date
    ends_on: date
    kind: str  # leave | sick | course | other


@dataclass(frozen=True)
class StaffRecord:
    """A person of the unit file (caseworkers, managers, intake: not partners)."""

    staff_id: str
    team: str | None
    role: str
    employment_rate: float
    hire_date: date | None
    left_on: date | None
    mentor: str | None

    def employed_on(self, day: date) -> bool:
        """Whether they are in the unit on `day` (assignment's own rule, `workload.employed`)."""
        return employed(self.hire_date, self.left_on, day)


@dataclass(frozen=True)
class FlagRecord:
    raised_at: datetime
    team: str


@dataclass(frozen=True)
class IncidentRecord:
    occurred_on: date
    type: str
    team: str | None


@dataclass(frozen=True)
class OutcomeData:
    """Everything read for a period (the `OutcomeRecords` port's answer)."""

    cases: tuple[CaseRecord, ...] = ()
    absences: tuple[AbsenceRecord, ...] = ()
    flags: tuple[FlagRecord, ...] = ()
    incidents: tuple[IncidentRecord, ...] = ()


@dataclass(frozen=True)
class Roster:
    """The unit's people as the report needs them, and how long mentoring lasts."""

    staff: tuple[StaffRecord, ...] = ()
    mentoring_months: int = 24


@dataclass(frozen=True)
class MonthValue:
    month: str  # YYYY-MM
    team: str | None
    value: float | None


@dataclass(frozen=True)
class Measure:
    id: str
    title_sv: str
    title_en: str
    unit: str  # days | share | count | per_fte | ratio
    monthly: tuple[MonthValue, ...]
    before: float | None
    after: float | None
    whole: float | None


@dataclass(frozen=True)
class OutcomeReport:
    start: date
    end: date
    change_date: date | None
    generated_at: datetime
    measures: tuple[Measure, ...]


@dataclass(frozen=True)
class _Month:
    key: str
    first: date
    last: date  # clipped to the period


@dataclass(frozen=True)
class _Ctx:
    data: OutcomeData
    roster: Roster
    tz: tzinfo
    as_of: datetime
    months: tuple[_Month, ...]
    teams: tuple[str, ...]
    caseworkers: tuple[StaffRecord, ...] = field(default=())
    # Open investigations at a month's end, by caseworker and by team (computed once per month).
    _open: dict[date, tuple[dict[str, int], dict[str, int]]] = field(default_factory=dict)


def check_period(start: date, end: date, change_date: date | None) -> None:
    """Raise `InvalidReportPeriod` unless start ≤ end, the span is at most three years and a
    change date lies inside the period; both ends lie in EARLIEST..LATEST."""
    for name, day in (("from", start), ("to", end)):
        if not EARLIEST <= day <= LATEST:
            raise InvalidReportPeriod(name, f"must lie between {EARLIEST} and {LATEST}")
    if end < start:
        raise InvalidReportPeriod("to", "must not be before from")
    if (end - start).days > MAX_SPAN_DAYS:
        raise InvalidReportPeriod("to", "a report spans at most three years")
    if change_date is not None and not start <= change_date <= end:
        raise InvalidReportPeriod("change_date", "must lie between from and to")


def window(start: date, end: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """What a store reads for a report of [start, end]: from five months before the first day
    (an investigation's four-month limit, plus a margin, may fall in the period) to the end of the
    last day (exclusive bound: midnight after it, local time)."""
    return (
        datetime.combine(add_months(start, -(INVESTIGATION_MONTHS + 1)), time(0), tz),
        datetime.combine(end + timedelta(days=1), time(0), tz),
    )


def months_of(start: date, end: date) -> tuple[_Month, ...]:
    """The calendar months the period touches, each clipped to it."""
    out, first = [], start.replace(day=1)
    while first <= end:
        nxt = add_months(first, 1)
        out.append(_Month(f"{first:%Y-%m}", max(first, start), min(nxt - timedelta(days=1), end)))
        first = nxt
    return tuple(out)


def outcome_report(
    data: OutcomeData,
    roster: Roster,
    tz: tzinfo,
    start: date,
    end: date,
    change_date: date | None,
    as_of: datetime,
) -> OutcomeReport:
    """Every measure for [start, end] (local days), split at `change_date` when given. Nothing
    after `as_of` is counted as late or as a month end that has not come."""
    check_period(start, end, change_date)
    teams = tuple(sorted({s.team for s in roster.staff if s.team is not None} | {c.team for c in data.cases}))
    ctx = _Ctx(
        data,
        roster,
        tz,
        as_of,
        months_of(start, end),
        teams,
        tuple(s for s in roster.staff if s.role == "caseworker" and s.team is not None),
    )
    split = change_date.replace(day=1) if change_date is not None else None
    measures = tuple(_measure(ctx, spec, split) for spec in MEASURES)
    return OutcomeReport(start, end, change_date, as_of, measures)


# --- measure specifications ---------------------------------------------------------------------

Items = list[tuple[str | None, float]]  # (team, value) of each item in a month
Dated = list[tuple[date, str | None, float]]  # (local day that places it in a month, team, value)


@dataclass(frozen=True)
class _Spec:
    id: str
    title_sv: str
    title_en: str
    unit: str
    pooled: Callable[[Sequence[float]], float | None] | None  # None: mean of monthly values
    items: Callable[[_Ctx], Dated] | None = None  # for pooled measures
    value: Callable[[_Ctx, _Month, str | None], float | None] | None = None  # for the others
    per_team: bool = True


def _measure(ctx: _Ctx, spec: _Spec, split: date | None) -> Measure:
    monthly: list[MonthValue] = []
    unit_values: dict[str, float | None] = {}
    items_by_month = _by_month(ctx, spec.items(ctx)) if spec.items is not None else {}
    scopes: list[str | None] = [None, *ctx.teams] if spec.per_team else [None]
    for m in ctx.months:
        if spec.pooled is not None and spec.items is not None:
            items = items_by_month[m.key]
            for team in scopes:
                monthly.append(MonthValue(m.key, team, spec.pooled(_of_team(items, team))))
        else:
            assert spec.value is not None
            for team in scopes:
                monthly.append(MonthValue(m.key, team, spec.value(ctx, m, team)))
        unit_values[m.key] = next(v.value for v in monthly if v.month == m.key and v.team is None)

    def over(months: Iterable[_Month]) -> float | None:
        chosen = list(months)
        if not chosen:
            return None
        if spec.pooled is not None:
            return spec.pooled([v for m in chosen for _, v in items_by_month[m.key]])
        values = [unit_values[m.key] for m in chosen]
        present = [v for v in values if v is not None]
        return statistics.fmean(present) if present else None

    before = over(m for m in ctx.months if split is not None and m.first < split) if split else None
    after = over(m for m in ctx.months if split is not None and m.first >= split) if split else None
    return Measure(
        spec.id,
        spec.title_sv,
        spec.title_en,
        spec.unit,
        tuple(monthly),
        before,
        after,
        over(ctx.months),
    )


def _by_month(ctx: _Ctx, dated: Dated) -> dict[str, Items]:
    """The items of each month of the period (those on other days dropped)."""
    out: dict[str, Items] = {m.key: [] for m in ctx.months}
    for day, team, value in dated:
        key = f"{day:%Y-%m}"
        if key in out and ctx.months[0].first <= day <= ctx.months[-1].last:
            out[key].append((team, value))
    return out


def _of_team(items: Items, team: str | None) -> list[float]:
    return [v for t, v in items if team is None or t == team]


# --- statistics ---------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def percentile_90(values: Sequence[float]) -> float | None:
    """Nearest rank: the ceil(0.9·n)-th smallest value."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def share(values: Sequence[float]) -> float | None:
    """The mean of 1/0 outcomes: the share that were on time."""
    return statistics.fmean(values) if values else None


def coefficient_of_variation(values: Sequence[float]) -> float | None:
    """Population standard deviation ÷ mean; None for fewer than two values or a zero mean."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    return statistics.pstdev(values) / mean if mean > 0 else None


# --- items of pooled measures -------------------------------------------------------------------


def _local_day(ctx: _Ctx, at: datetime) -> date:
    return at.astimezone(ctx.tz).date()


def _in(month: _Month, day: date) -> bool:
    return month.first <= day <= month.last


def _lead_times(ctx: _Ctx) -> Dated:
    out: Dated = []
    for c in ctx.data.cases:
        if c.closed_at is not None and c.investigation_opened_on is not None:
            closed = _local_day(ctx, c.closed_at)
            out.append((closed, c.team, float((closed - c.investigation_opened_on).days)))
    return out


def _on_time(done: datetime | None, due: datetime, as_of: datetime) -> float | None:
    """1 on time, 0 late, None when not yet due and not done."""
    if done is not None:
        return 1.0 if done <= due else 0.0
    return 0.0 if due < as_of else None


Clock = Callable[[CaseRecord], tuple[datetime | None, datetime] | None]  # (done, due) of a case


def _clock_items(ctx: _Ctx, clock: Clock) -> Dated:
    out: Dated = []
    for c in ctx.data.cases:
        pair = clock(c)
        if pair is None:
            continue
        verdict = _on_time(pair[0], pair[1], ctx.as_of)
        if verdict is not None:
            out.append((_local_day(ctx, pair[1]), c.team, verdict))
    return out


def _investigation_clock(ctx: _Ctx) -> Clock:
    def clock(c: CaseRecord) -> tuple[datetime | None, datetime] | None:
        if c.investigation_opened_on is None:
            return None
        last = add_months(c.investigation_opened_on, INVESTIGATION_MONTHS)
        return c.closed_at, datetime.combine(last, time(23, 59, 59), ctx.tz)

    return clock


def _within_limit(ctx: _Ctx) -> Dated:
    return _clock_items(ctx, _investigation_clock(ctx))


def _preliminary(ctx: _Ctx) -> Dated:
    return _clock_items(ctx, lambda c: (c.decided_at, c.preliminary_due))


def _protection(ctx: _Ctx) -> Dated:
    return _clock_items(ctx, lambda c: (c.protection_done_at, c.protection_due))


# --- monthly values of the other measures -------------------------------------------------------


def _month_end(ctx: _Ctx, month: _Month) -> datetime | None:
    """The end of the month's last day, or None when it has not come by `as_of`."""
    end = datetime.combine(month.last, time(23, 59, 59), ctx.tz)
    return end if end <= ctx.as_of else None


def _absent(ctx: _Ctx, staff_id: str, day: date) -> bool:
    return any(a.staff_id == staff_id and a.starts_on <= day <= a.ends_on for a in ctx.data.absences)


def _open_at(c: CaseRecord, day: date, end: datetime) -> bool:
    """Whether the case's investigation was open at the end of `day` (`end`)."""
    opened = c.investigation_opened_on is not None and c.investigation_opened_on <= day
    return opened and (c.closed_at is None or c.closed_at > end)


def _open_counts(ctx: _Ctx, day: date, end: datetime) -> tuple[dict[str, int], dict[str, int]]:
    """Investigations open at `end` (the end of `day`), counted by caseworker and by team."""
    if day not in ctx._open:
        by_worker: dict[str, int] = {}
        by_team: dict[str, int] = {}
        for c in ctx.data.cases:
            if _open_at(c, day, end):
                by_worker[c.caseworker] = by_worker.get(c.caseworker, 0) + 1
                by_team[c.team] = by_team.get(c.team, 0) + 1
        ctx._open[day] = (by_worker, by_team)
    return ctx._open[day]


def _loads(ctx: _Ctx, month: _Month, team: str | None) -> dict[str, float] | None:
    """Open investigations per FTE of each available caseworker of `team` at the month's end."""
    end = _month_end(ctx, month)
    if end is None:
        return None
    day = month.last
    people = [
        s
        for s in ctx.caseworkers
        if (team is None or s.team == team) and s.employed_on(day) and not _absent(ctx, s.staff_id, day)
    ]
    open_by = _open_counts(ctx, day, end)[0]
    return {s.staff_id: open_by.get(s.staff_id, 0) / s.employment_rate for s in people}


def _caseload(ctx: _Ctx, month: _Month, team: str | None) -> float | None:
    end = _month_end(ctx, month)
    if end is None:
        return None
    day = month.last
    fte = sum(
        s.employment_rate
        for s in ctx.caseworkers
        if (team is None or s.team == team) and s.employed_on(day) and not _absent(ctx, s.staff_id, day)
    )
    by_team = _open_counts(ctx, day, end)[1]
    opened = sum(by_team.values()) if team is None else by_team.get(team, 0)
    return opened / fte if fte > 0 else None


def _evenness(ctx: _Ctx, month: _Month, team: str | None) -> float | None:
    if team is not None:
        loads = _loads(ctx, month, team)
        return coefficient_of_variation(list(loads.values())) if loads is not None else None
    per_team = [v for t in ctx.teams if (v := _evenness(ctx, month, t)) is not None]
    return statistics.fmean(per_team) if per_team else None


def _staff_in(ctx: _Ctx, team: str | None) -> list[StaffRecord]:
    return [s for s in ctx.roster.staff if team is None or s.team == team]


def _days_per_fte(kind: str) -> Callable[[_Ctx, _Month, str | None], float | None]:
    def value(ctx: _Ctx, month: _Month, team: str | None) -> float | None:
        last = min(month.last, _local_day(ctx, ctx.as_of))
        if last < month.first:
            return None
        staff = _staff_in(ctx, team)
        ids = {s.staff_id for s in staff}
        n_days = (last - month.first).days + 1
        days = [month.first + timedelta(days=i) for i in range(n_days)]
        fte = sum(s.employment_rate for d in days for s in staff if s.employed_on(d)) / n_days
        away = sum(
            1
            for a in ctx.data.absences
            if a.kind == kind and a.staff_id in ids
            for d in days
            if a.starts_on <= d <= a.ends_on
        )
        return away / fte if fte > 0 else None

    return value


def _count_people(
    which: Callable[[StaffRecord], date | None],
) -> Callable[[_Ctx, _Month, str | None], float | None]:
    def value(ctx: _Ctx, month: _Month, team: str | None) -> float | None:
        return float(sum(1 for s in _staff_in(ctx, team) if (d := which(s)) is not None and _in(month, d)))

    return value


def _mentoring(ctx: _Ctx, month: _Month, team: str | None) -> float | None:
    if _month_end(ctx, month) is None:
        return None
    day = month.last
    since = add_months(day, -ctx.roster.mentoring_months)
    new = [
        s
        for s in ctx.caseworkers
        if (team is None or s.team == team)
        and s.employed_on(day)
        and s.hire_date is not None
        and s.hire_date > since
    ]
    return share([1.0 if s.mentor is not None else 0.0 for s in new])


def _flags(ctx: _Ctx, month: _Month, team: str | None) -> float | None:
    return float(
        sum(
            1
            for f in ctx.data.flags
            if (team is None or f.team == team) and _in(month, _local_day(ctx, f.raised_at))
        )
    )


def _incidents(ctx: _Ctx, month: _Month, team: str | None) -> float | None:
    return float(
        sum(1 for i in ctx.data.incidents if (team is None or i.team == team) and _in(month, i.occurred_on))
    )


MEASURES: tuple[_Spec, ...] = (
    _Spec(
        "investigation_lead_time_median",
        "Utredningstid, median",
        "Investigation lead time, median",
        "days",
        median,
        items=_lead_times,
    ),
    _Spec(
        "investigation_lead_time_p90",
        "Utredningstid, 90:e percentilen",
        "Investigation lead time, 90th percentile",
        "days",
        percentile_90,
        items=_lead_times,
    ),
    _Spec(
        "investigations_within_limit",
        "Utredningar klara inom fyra månader",
        "Investigations finished within four months",
        "share",
        share,
        items=_within_limit,
    ),
    _Spec(
        "preliminary_on_time",
        "Förhandsbedömningar inom 14 dagar",
        "Preliminary assessments within 14 days",
        "share",
        share,
        items=_preliminary,
    ),
    _Spec(
        "protection_on_time",
        "Skyddsbedömningar i tid",
        "Protection assessments on time",
        "share",
        share,
        items=_protection,
    ),
    _Spec(
        "caseload_per_fte",
        "Öppna utredningar per heltid",
        "Open investigations per FTE",
        "per_fte",
        None,
        value=_caseload,
    ),
    _Spec(
        "caseload_evenness",
        "Ojämnhet i arbetsbörda (variationskoefficient)",
        "Caseload unevenness (coefficient of variation)",
        "ratio",
        None,
        value=_evenness,
    ),
    _Spec(
        "sick_leave_days_per_fte",
        "Sjukdagar per heltid",
        "Sick-leave days per FTE",
        "per_fte",
        None,
        value=_days_per_fte("sick"),
    ),
    _Spec(
        "planned_leave_days_per_fte",
        "Planerad ledighet, dagar per heltid",
        "Planned leave days per FTE",
        "per_fte",
        None,
        value=_days_per_fte("leave"),
    ),
    _Spec(
        "staff_joined",
        "Nyanställda",
        "Staff who joined",
        "count",
        None,
        value=_count_people(lambda s: s.hire_date),
    ),
    _Spec("staff_left", "Slutat", "Staff who left", "count", None, value=_count_people(lambda s: s.left_on)),
    _Spec(
        "mentoring_coverage",
        "Nyanställda med mentor",
        "New hires with a mentor",
        "share",
        None,
        value=_mentoring,
    ),
    _Spec(
        "overload_flags_raised",
        "Larm om hög arbetsbelastning",
        "Overload flags raised",
        "count",
        None,
        value=_flags,
    ),
    _Spec(
        "incidents_recorded",
        "Registrerade hot och våld",
        "Incidents recorded",
        "count",
        None,
        value=_incidents,
    ),
)


def as_json(report: OutcomeReport) -> dict[str, object]:
    """The agreed JSON shape of `GET /v1/outcome-report` and of `report.json`."""
    return {
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "change_date": report.change_date.isoformat() if report.change_date else None,
        "generated_at": report.generated_at.isoformat(),
        "measures": [
            {
                "id": m.id,
                "title_sv": m.title_sv,
                "title_en": m.title_en,
                "unit": m.unit,
                "monthly": [{"month": v.month, "team": v.team, "value": v.value} for v in m.monthly],
                "before": m.before,
                "after": m.after,
                "whole": m.whole,
            }
            for m in report.measures
        ],
    }


@dataclass(frozen=True)
class PointInTime:
    """The figures assignment exposes on /metrics: the last `days` days pooled, caseloads and
    mentoring now, sick leave in the last full month. No staff ids: teams at most."""

    lead_time_median: float | None
    lead_time_p90: float | None
    within_limit: float | None
    preliminary_on_time: float | None
    protection_on_time: float | None
    caseload_per_fte: dict[str, float | None]  # team: open investigations per FTE now
    sick_leave_days_per_fte: float | None
    mentoring_coverage: float | None


def point_in_time_window(now: datetime, tz: tzinfo, days: int = 90) -> tuple[date, date]:
    """The local days the point-in-time figures read: the last `days` days up to today (which
    covers the last full month)."""
    today = now.astimezone(tz).date()
    return min(today - timedelta(days=days - 1), add_months(today.replace(day=1), -1)), today


def point_in_time(
    data: OutcomeData, roster: Roster, tz: tzinfo, now: datetime, days: int = 90
) -> PointInTime:
    """The figures now, from what was read for `point_in_time_window`."""
    today = now.astimezone(tz).date()
    report = outcome_report(data, roster, tz, today - timedelta(days=days - 1), today, None, now)
    whole = {m.id: m.whole for m in report.measures}
    end_of_today = datetime.combine(today, time(23, 59, 59), tz)
    teams = tuple(sorted({s.team for s in roster.staff if s.team is not None}))
    caseworkers = tuple(s for s in roster.staff if s.role == "caseworker" and s.team is not None)
    now_ctx = _Ctx(data, roster, tz, end_of_today, (), teams, caseworkers)
    today_only = _Month("now", today, today)
    last_month_first = add_months(today.replace(day=1), -1)
    last_month = _Month("last", last_month_first, today.replace(day=1) - timedelta(days=1))
    return PointInTime(
        whole["investigation_lead_time_median"],
        whole["investigation_lead_time_p90"],
        whole["investigations_within_limit"],
        whole["preliminary_on_time"],
        whole["protection_on_time"],
        {t: _caseload(now_ctx, today_only, t) for t in teams},
        _days_per_fte("sick")(now_ctx, last_month, None),
        _mentoring(now_ctx, today_only, None),
    )
