"""`referral-router report --simulated`: a synthetic year of the unit for the outcome report.

A SIMULATION, not measurements. Referrals arrive at the rate and seasonality `simulate` uses
(policy_simulation.MONTH_FACTOR, 11 a day on office days, a fifth of that on other days), go to
the team on duty (the unit's own rotation) and to its caseworkers in turn; the legal clocks are
the assignment service's own (domain/deadlines.py). Everything else is drawn from the parameters
below, which switch from BEFORE to AFTER on the change date: BEFORE stands for how DOMAIN.md §1
describes a unit without the model (no recovery time, new hires without mentors: more sick leave,
more leavers, longer investigations); AFTER for the claims the model makes. The numbers are
assumptions stated in `docs/outcome-report/report.md`, not findings. Seeded: the same seed, unit
file and dates give the same year.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from referral_router.policy_simulation import MONTH_FACTOR
from services.assignment.domain.deadlines import protection_assessment_due, referral_deadlines
from services.assignment.domain.outcome import (
    AbsenceRecord,
    CaseRecord,
    FlagRecord,
    IncidentRecord,
    OutcomeData,
    Roster,
    StaffRecord,
)
from services.assignment.domain.rotation import on_duty_team
from services.assignment.domain.unit import Unit

WARM_UP_DAYS = 150  # investigations opened before the year starts, so caseloads are not empty
INCIDENT_TYPES = (("threat", 6), ("harassment", 3), ("violence", 1))
INCIDENT_CHANNELS = ("phone", "meeting", "home_visit", "email")


@dataclass(frozen=True)
class Parameters:
    """One regime of the simulated unit."""

    protection_on_time: float  # chance a protection assessment is done by its due time
    preliminary_days: tuple[int, int]  # a decision this many days after receipt (uniform)
    opened_share: float  # referrals that lead to an investigation
    lead_time_days: tuple[float, float]  # mean and standard deviation of an investigation
    sick_start_per_day: float  # chance, per person and office day, that a sick spell starts
    leaving_per_month: float  # chance, per person and month, of leaving the unit
    mentored_share: float  # new hires who get a mentor
    flags_per_team_month: float
    incidents_per_month: float


_Regime = Callable[[date], Parameters]

BEFORE = Parameters(0.88, (4, 19), 0.3, (128.0, 32.0), 0.016, 0.025, 0.3, 2.5, 2.0)
AFTER = Parameters(0.96, (3, 15), 0.3, (104.0, 24.0), 0.008, 0.01, 1.0, 1.0, 1.6)


@dataclass(frozen=True)
class SimulatedYear:
    data: OutcomeData
    roster: Roster
    start: date
    end: date
    change_date: date | None
    as_of: datetime


def simulate_year(unit: Unit, start: date, end: date, change_date: date | None, seed: int) -> SimulatedYear:
    """The unit's year [start, end], BEFORE until `change_date`, AFTER from it (BEFORE throughout
    without a change date)."""
    rng = random.Random(seed)

    def regime(day: date) -> Parameters:
        return AFTER if change_date is not None and day >= change_date else BEFORE

    roster = _staff_over_time(unit, start, end, regime, rng)
    absences = _absences(roster, start, end, regime, unit, rng)
    cases = _cases(unit, roster, start - timedelta(days=WARM_UP_DAYS), end, regime, rng)
    flags, incidents = _flags_and_incidents(unit, start, end, regime, rng)
    as_of = datetime.combine(end + timedelta(days=1), time(12), unit.tz)
    data = OutcomeData(tuple(cases), tuple(absences), tuple(flags), tuple(incidents))
    return SimulatedYear(data, roster, start, end, change_date, as_of)


def _staff_over_time(unit: Unit, start: date, end: date, regime: _Regime, rng: random.Random) -> Roster:
    """The unit's people; each month a caseworker may leave, replaced 30 days later by a new hire
    (mentored or not, as the regime has it)."""
    staff = list(unit.roster.staff)
    day, n = start, 0
    while day <= end:
        p = regime(day)
        for i, s in enumerate(list(staff)):
            leaves = s.role == "caseworker" and s.left_on is None and rng.random() < p.leaving_per_month
            if leaves and s.employed_on(day):
                left = day + timedelta(days=rng.randrange(28))
                staff[i] = replace(s, left_on=left)
                n += 1
                hired = left + timedelta(days=30)
                mentor = _senior(staff, s.team, hired) if rng.random() < p.mentored_share else None
                staff.append(StaffRecord(f"sim-{n}", s.team, "caseworker", 1.0, hired, None, mentor))
        day = _next_month(day)
    return Roster(tuple(staff), unit.roster.mentoring_months)


def _senior(staff: list[StaffRecord], team: str | None, day: date) -> str | None:
    """A caseworker of the team hired at least two years before `day`, if any."""
    seniors = [
        s.staff_id
        for s in staff
        if s.team == team and s.role == "caseworker" and s.employed_on(day)
        if s.hire_date is None or s.hire_date <= day - timedelta(days=730)
    ]
    return seniors[0] if seniors else None


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _absences(
    roster: Roster, start: date, end: date, regime: _Regime, unit: Unit, rng: random.Random
) -> list[AbsenceRecord]:
    """Four weeks of summer leave each (a third of the staff at a time) and sick spells: mostly
    one to five days, now and then three weeks."""
    out: list[AbsenceRecord] = []
    for i, s in enumerate(roster.staff):
        summer = date(start.year, 6, 29) + timedelta(weeks=2 * (i % 3))
        if start <= summer <= end and s.employed_on(summer):
            out.append(AbsenceRecord(s.staff_id, summer, summer + timedelta(days=27), "leave"))
        day = start
        while day <= end:
            at_work = s.employed_on(day) and unit.calendar.is_office_day(day)
            if at_work and rng.random() < regime(day).sick_start_per_day:
                length = 21 if rng.random() < 0.05 else rng.randint(1, 5)
                out.append(AbsenceRecord(s.staff_id, day, day + timedelta(days=length - 1), "sick"))
                day += timedelta(days=length)
                continue
            day += timedelta(days=1)
    return out


def _cases(
    unit: Unit, roster: Roster, first: date, end: date, regime: _Regime, rng: random.Random
) -> list[CaseRecord]:
    out: list[CaseRecord] = []
    turn: dict[str, int] = {}
    day = first
    while day <= end:
        mean = 11.0 * MONTH_FACTOR[day.month] * (1.0 if unit.calendar.is_office_day(day) else 0.2)
        for _ in range(_poisson(mean, rng)):
            at = datetime.combine(day, time(rng.randrange(7, 18), rng.randrange(60)), unit.tz)
            team = on_duty_team(unit.plan, at, unit.tz).team
            crew = [
                s for s in roster.staff if s.team == team and s.role == "caseworker" and s.employed_on(day)
            ]
            if not crew:
                continue
            turn[team] = turn.get(team, -1) + 1
            out.append(
                _case(f"S{len(out)}", team, crew[turn[team] % len(crew)].staff_id, at, unit, regime, rng)
            )
        day += timedelta(days=1)
    return out


def _case(
    rid: str, team: str, caseworker: str, at: datetime, unit: Unit, regime: _Regime, rng: random.Random
) -> CaseRecord:
    p = regime(at.date())
    protection_due = protection_assessment_due(at, unit.calendar, unit.tz, unit.deadlines)
    slack = timedelta(hours=rng.uniform(0.5, 6))
    protection_done = (
        protection_due - slack if rng.random() < p.protection_on_time else protection_due + slack
    )
    preliminary_due = referral_deadlines(
        at, unit.calendar, unit.tz, unit.deadlines
    ).preliminary_assessment_due
    decided = at + timedelta(days=rng.randint(*p.preliminary_days))
    opened_on, closed = None, decided
    if rng.random() < p.opened_share:
        opened_on = decided.date()
        lead = max(20.0, rng.gauss(*regime(opened_on).lead_time_days))
        closed = datetime.combine(opened_on + timedelta(days=round(lead)), time(14), unit.tz)
    return CaseRecord(
        rid,
        team,
        caseworker,
        at,
        protection_due,
        protection_done,
        preliminary_due,
        decided,
        opened_on,
        closed,
    )


def _flags_and_incidents(
    unit: Unit, start: date, end: date, regime: _Regime, rng: random.Random
) -> tuple[list[FlagRecord], list[IncidentRecord]]:
    flags: list[FlagRecord] = []
    incidents: list[IncidentRecord] = []
    month = start.replace(day=1)
    while month <= end:
        p, days = regime(month), (_next_month(month) - month).days
        for team in unit.teams:
            for _ in range(_poisson(p.flags_per_team_month, rng)):
                day = month + timedelta(days=rng.randrange(days))
                flags.append(FlagRecord(datetime.combine(day, time(rng.randrange(8, 17)), unit.tz), team.id))
        for _ in range(_poisson(p.incidents_per_month, rng)):
            kind = rng.choices([t for t, _ in INCIDENT_TYPES], [w for _, w in INCIDENT_TYPES])[0]
            team_id = rng.choice([t.id for t in unit.teams])
            incidents.append(IncidentRecord(month + timedelta(days=rng.randrange(days)), kind, team_id))
        month = _next_month(month)
    return flags, incidents


def _poisson(mean: float, rng: random.Random) -> int:
    count, total = 0, rng.expovariate(1.0)
    while total < mean:
        count, total = count + 1, total + rng.expovariate(1.0)
    return count
