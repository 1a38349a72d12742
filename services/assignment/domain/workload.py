"""Capacity of a caseworker: employment rate × max load, less mentoring, ramped for new hires."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from services.assignment.domain.model import (
    HUNDREDTHS_PER_CASE,
    CapacityRules,
    Caseworker,
    Hundredths,
    Load,
    Referral,
)


def months_since(start: date, day: date) -> int:
    """Whole calendar months from `start` to `day` (negative before `start`)."""
    months = (day.year - start.year) * 12 + day.month - start.month
    return months - 1 if day.day < start.day else months


def is_new_hire(worker: Caseworker, day: date, rules: CapacityRules) -> bool:
    """Hired less than the mentoring period ago (and already started)."""
    if worker.hire_date is None or worker.hire_date > day:
        return False
    return months_since(worker.hire_date, day) < rules.mentoring_months


def has_started(worker: Caseworker, day: date) -> bool:
    """A person hired later than `day` is not yet part of the team."""
    return worker.hire_date is None or worker.hire_date <= day


def employed(hire_date: date | None, left_on: date | None, day: date) -> bool:
    """Hired by `day` and not yet left (the unit file's `left_on` is the last day): the one rule
    for who is in the unit on a day, for assignment and the outcome report alike."""
    return (hire_date is None or hire_date <= day) and (left_on is None or day <= left_on)


def employed_on(worker: Caseworker, day: date) -> bool:
    """Whether `worker` is in the unit on `day` (`employed`)."""
    return employed(worker.hire_date, worker.left_on, day)


def active_mentors(staff: Iterable[Caseworker], day: date, rules: CapacityRules) -> frozenset[str]:
    """Everyone currently mentoring at least one new hire."""
    return frozenset(w.mentor for w in staff if w.mentor is not None and is_new_hire(w, day, rules))


def ramp_factor(worker: Caseworker, day: date, rules: CapacityRules) -> float:
    """The share of full capacity a new hire has this month; 1.0 for everyone else."""
    if not is_new_hire(worker, day, rules) or worker.hire_date is None:
        return 1.0
    months = months_since(worker.hire_date, day)
    return next((factor for until, factor in rules.ramp if months < until), 1.0)


def capacity(worker: Caseworker, day: date, rules: CapacityRules, mentors: frozenset[str]) -> Hundredths:
    """Weighted load this person can carry: rate × max load × (1 − mentoring share) × ramp, in
    whole hundredths of a case like the loads it is compared with."""
    share = rules.mentoring_share if worker.staff_id in mentors else 0.0
    cases = worker.employment_rate * rules.max_load * (1.0 - share) * ramp_factor(worker, day, rules)
    return round(cases * HUNDREDTHS_PER_CASE)


def allowed_for_new_hire(worker: Caseworker, referral: Referral, day: date, rules: CapacityRules) -> bool:
    """New hires in their first months get no referrals of the restricted kinds."""
    if worker.hire_date is None or not is_new_hire(worker, day, rules):
        return True
    if months_since(worker.hire_date, day) >= rules.restricted_months:
        return True
    if rules.restrict_acute and referral.acute_danger:
        return False
    return not set(referral.categories) & rules.restricted_categories


@dataclass(frozen=True)
class Absence:
    """Days a staff member is away: no new referrals then (`kind`: leave, sick, course, other)."""

    staff_id: str
    starts_on: date
    ends_on: date
    kind: str


def absent_on(absences: Iterable[Absence], staff_id: str, day: date) -> Absence | None:
    """The absence that keeps `staff_id` away on `day` (the one ending last), if any."""
    covering = [a for a in absences if a.staff_id == staff_id and a.starts_on <= day <= a.ends_on]
    return max(covering, key=lambda a: a.ends_on, default=None)


@dataclass(frozen=True)
class CaseworkerWorkload:
    """One caseworker in the managers' workload view: staff ids and figures, nothing about clients."""

    caseworker: Caseworker
    open_cases: int
    weighted_load: Hundredths
    capacity: Hundredths
    absences: tuple[Absence, ...]
    new_hire: bool = False
    mentees: tuple[str, ...] = ()


def workload_view(
    staff: Sequence[Caseworker],
    day: date,
    rules: CapacityRules,
    loads: Mapping[str, Load],
    absences: Sequence[Absence],
    relief: Mapping[str, float] | None = None,
) -> list[CaseworkerWorkload]:
    """Every caseworker's open cases and load (`loads`: as assignment reads them, by staff id),
    capacity on `day` (times a running relief's factor, as selection counts it), and absences
    (in the order given)."""
    mentors = active_mentors(staff, day, rules)
    factors = relief or {}
    return [
        CaseworkerWorkload(
            w,
            loads.get(w.staff_id, Load()).open_cases,
            loads.get(w.staff_id, Load()).weighted,
            round(capacity(w, day, rules, mentors) * factors.get(w.staff_id, 1.0)),
            tuple(a for a in absences if a.staff_id == w.staff_id),
            is_new_hire(w, day, rules),
            mentees_of(w.staff_id, staff, day, rules),
        )
        for w in staff
    ]


def mentees_of(
    staff_id: str, staff: Iterable[Caseworker], day: date, rules: CapacityRules
) -> tuple[str, ...]:
    """The new hires `staff_id` mentors on `day` (a mentor of someone past the period mentors nobody)."""
    return tuple(w.staff_id for w in staff if w.mentor == staff_id and is_new_hire(w, day, rules))
