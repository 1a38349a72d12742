"""`referral-router simulate`: a year of referrals through the pure assignment domain, in memory.

No Kafka and no Postgres: the same rotation, selection, capacity and deadline functions the
assignment service uses decide every referral, through the service's own `decide_or_manager`
(nobody free: the manager of the team the referral went to), with earlier cases, loads and
absences presented as the service reads them; baselines (round-robin, fewest open cases) take
the same referrals, absences and new hires. Synthetic data only: keys are counters.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from services.assignment.domain.batch import PRIOR_LIMIT
from services.assignment.domain.decide import Situation, decide_or_manager
from services.assignment.domain.model import (
    HUNDREDTHS_PER_CASE,
    Availability,
    Caseworker,
    Hundredths,
    Load,
    PriorCase,
    Referral,
    as_cases,
)
from services.assignment.domain.rotation import on_duty_team
from services.assignment.domain.selection import continuity_match
from services.assignment.domain.unit import Unit
from services.assignment.domain.workload import active_mentors, capacity, has_started, is_new_hire
from services.assignment.unit_from_config import unit_from_config
from shared.unit_config import load_unit_config

POLICIES = ("weighted", "round_robin", "fewest_open")
START = date(2026, 1, 5)
CATEGORIES = (("neglect", 30), ("violence_witnessed", 20), ("violence", 15), ("own_behaviour", 10),
              ("substance_abuse_home", 8), ("mental_health", 7), ("sexual_abuse", 4), ("honour_related", 3),
              ("other", 3))  # fmt: skip
# School-term seasonality (DOMAIN.md §7): June peaks, July is quiet.
MONTH_FACTOR = {
    1: 0.9,
    2: 1.0,
    3: 1.05,
    4: 1.0,
    5: 1.1,
    6: 1.6,
    7: 0.55,
    8: 0.8,
    9: 1.1,
    10: 1.1,
    11: 1.05,
    12: 0.8,
}


@dataclass
class Case:
    """One simulated referral's case: who has it, its weight and when it closes."""

    referral: Referral
    team: str
    caseworker: str
    weight: Hundredths
    assigned_on: date
    closes_on: date | None = None
    assigned_at: datetime | None = None  # the assignment instant (the service's `assigned_at`)
    preliminary_met: bool = True
    investigation_met: bool | None = None
    opened_on: date | None = None  # the day an investigation was opened (after the preliminary assessment)


@dataclass
class Outcome:
    """What one policy did over the run."""

    policy: str
    cases: list[Case] = field(default_factory=list)
    daily_load: dict[str, list[float]] = field(default_factory=dict)  # weighted cases
    daily_usage: dict[str, list[float]] = field(default_factory=dict)
    daily_per_fte: dict[str, list[float]] = field(default_factory=dict)  # NaN: away, new hire or mentor
    daily_per_rate: dict[str, list[float]] = field(default_factory=dict)  # NaN: away; new hires, mentors kept
    continuity_due: int = 0
    continuity_kept: int = 0


def make_referrals(days: int, rng: random.Random, unit: Unit) -> list[tuple[datetime, Referral]]:
    """Submissions per day by weekday, holiday and month; siblings and repeat referrals about a child."""
    out: list[tuple[datetime, Referral]] = []
    children: list[tuple[str, str]] = []
    for offset in range(days):
        day = START + timedelta(days=offset)
        mean = 11.0 * MONTH_FACTOR[day.month] * (1.0 if unit.calendar.is_office_day(day) else 0.2)
        for _ in range(_poisson(mean / 1.3, rng)):  # about 1.3 children per submission
            at = datetime.combine(
                day, time(rng.choice([*range(8, 17)] * 4 + [*range(0, 8), *range(17, 24)])), unit.tz
            )
            at += timedelta(minutes=rng.randrange(60))
            family = f"f{len(out)}"
            siblings = 1 + (rng.random() < 0.22) + (rng.random() < 0.08)
            for _ in range(siblings):
                child, fam = (
                    rng.choice(children[-1500:])
                    if children and rng.random() < 0.1
                    else (f"c{len(out)}", family)
                )
                children.append((child, fam))
                cats = tuple(
                    rng.choices(
                        [c for c, _ in CATEGORIES], [w for _, w in CATEGORIES], k=1 + (rng.random() < 0.3)
                    )
                )
                out.append(
                    (at, Referral(f"R{len(out)}", child, fam, cats, rng.random() < 0.08, rng.random() < 0.1))
                )
    return out


def _poisson(mean: float, rng: random.Random) -> int:
    count, total = 0, rng.expovariate(1.0)
    while total < mean:
        count, total = count + 1, total + rng.expovariate(1.0)
    return count


def make_absences(staff: tuple[Caseworker, ...], days: int, rng: random.Random) -> dict[date, frozenset[str]]:
    """Four weeks of summer leave each (a third of the team at a time), sick days, one long leave."""
    away: dict[date, set[str]] = {}
    for i, w in enumerate(staff):
        summer = date(2026, 6, 29) + timedelta(weeks=2 * (i % 3))
        spans = [(summer, 28)] + [
            (START + timedelta(days=rng.randrange(days)), rng.randint(1, 5)) for _ in range(4)
        ]
        if i == 3:
            spans.append((date(2026, 3, 2), 60))
        for first, length in spans:
            for d in range(length):
                away.setdefault(first + timedelta(days=d), set()).add(w.staff_id)
    return {d: frozenset(s) for d, s in away.items()}


class Simulation:
    """Runs one policy over the referrals, day by day, keeping cases in memory."""

    def __init__(self, unit: Unit, absences: dict[date, frozenset[str]]) -> None:
        self.unit, self.absences = unit, absences

    def available(self, day: date) -> list[Caseworker]:
        """Caseworkers who have started and are not away on `day`."""
        away = self.absences.get(day, frozenset())
        return [w for w in self.unit.staff if has_started(w, day) and w.staff_id not in away]

    def away(self, day: date) -> frozenset[str]:
        """Everyone not at work on `day`: away, or not yet hired."""
        here = {w.staff_id for w in self.available(day)}
        return frozenset(w.staff_id for w in self.unit.staff if w.staff_id not in here)

    def returning(self, day: date) -> frozenset[str]:
        """At work on `day` after an absence that ended within `return_days`, as the service reads it.

        The service (`read_before_lock`) caps new cases for anyone whose absence ended in the last
        `return_days` days; the simulation must apply the same cap, or the weighted policy would
        fill a returning caseworker's empty caseload in a day.
        """
        window = range(1, self.unit.rules.return_days + 1)
        back = {s for d in window for s in self.absences.get(day - timedelta(days=d), frozenset())}
        return frozenset(back - self.absences.get(day, frozenset()))

    def run(
        self,
        policy: str,
        referrals: list[tuple[datetime, Referral]],
        days: int,
        seed: int,
        history: Sequence[Case] = (),
    ) -> Outcome:
        """Assign every referral under `policy`; cases close by a workload-dependent model.

        `history`: cases assigned before the first day (their loads, and earlier cases for
        continuity); they are not part of the outcome.
        """
        rng, out = random.Random(seed), Outcome(policy)
        by_day: dict[date, list[tuple[datetime, Referral]]] = {}
        for at, r in referrals:
            instant, day = self.unit.assignment_moment(at)
            by_day.setdefault(day, []).append((instant, r))
        cases = list(history)  # in assignment order, as the service's `seq`
        index: dict[str, list[int]] = {}
        for n, c in enumerate(cases):
            _index(index, c, n)
        turn: dict[str, int] = {}
        last = {c.caseworker: c.assigned_at for c in history if c.assigned_at is not None}
        for offset in range(days):
            day = START + timedelta(days=offset)
            loads = _loads([c for c in cases if c.closes_on is None or c.closes_on > day], last)
            present = self.available(day)
            for instant, r in by_day.get(day, []):
                situation = self._situation(r, instant, day, cases, index, loads)
                team, who = self._choose(policy, situation, present, turn)
                match = situation.match
                if match is not None and match.caseworker in {w.staff_id for w in present}:
                    out.continuity_due += 1
                    out.continuity_kept += who == match.caseworker
                case = self._open_case(r, team, who, instant, loads, rng)
                out.cases.append(case)
                _index(index, case, len(cases))
                cases.append(case)
                old = loads.get(who, Load())
                # The service's "assigned least recently" is by when it assigned (its transactions
                # run in arrival order); here that is the order referrals are taken in.
                last[who] = instant
                loads[who] = Load(
                    old.weighted + case.weight, old.open_cases + 1, last[who], old.assigned_today + 1
                )
            self._snapshot(out, loads, day)
        return out

    def _situation(
        self, r: Referral, instant: datetime, day: date, cases: list[Case], index: dict[str, list[int]],
        loads: dict[str, Load],
    ) -> Situation:  # fmt: skip
        """What the service's decision would see: earlier cases newest first, as it reads them."""
        related = sorted({n for key in (r.child_key, r.family_key) for n in index.get(key, [])}, reverse=True)
        prior = [_prior(cases[n], self.unit) for n in related[:PRIOR_LIMIT]]
        match = continuity_match(r, prior, instant, self.unit.rules.continuity_days)
        duty = on_duty_team(self.unit.plan, instant, self.unit.tz)
        availability = Availability(self.away(day), self.returning(day), self.unit.excluded_for(r))
        return Situation(r, duty, match, self.unit.staff, loads, availability, day)

    def _choose(
        self, policy: str, s: Situation, present: list[Caseworker], turn: dict[str, int]
    ) -> tuple[str, str]:
        if policy == "weighted":
            d = decide_or_manager(s, self.unit)
            return d.team, d.staff_id
        team = [w for w in present if w.team == s.duty.team]
        if not team:
            return s.duty.team, self._manager(s.duty.team)
        if policy == "round_robin":
            turn[s.duty.team] = turn.get(s.duty.team, -1) + 1
            return s.duty.team, team[turn[s.duty.team] % len(team)].staff_id
        return s.duty.team, min(
            team, key=lambda w: (s.loads.get(w.staff_id, Load()).open_cases, w.staff_id)
        ).staff_id

    def _manager(self, team_id: str) -> str:
        team = self.unit.team(team_id)
        return team.manager if team else team_id

    def _open_case(
        self, r: Referral, team: str, who: str, instant: datetime, loads: dict[str, Load], rng: random.Random
    ) -> Case:
        day = self.unit.local_day(instant)
        weight = self.unit.weights.weight(r.categories, r.acute_danger, r.interpreter_needed)
        worker = self.unit.caseworker(who)
        mentors = active_mentors(self.unit.staff, day, self.unit.rules)  # a mentor's capacity is reduced
        full = round(self.unit.rules.max_load * HUNDREDTHS_PER_CASE)
        cap = capacity(worker, day, self.unit.rules, mentors) if worker else full
        usage = min(1.5, loads.get(who, Load()).weighted / cap)
        pressure = 0.7 + 0.4 * usage  # an overloaded caseworker decides later
        decided = round(rng.uniform(2, 13) * pressure)
        case = Case(r, team, who, weight, day, preliminary_met=decided <= 14, assigned_at=instant)
        if rng.random() < 0.38:  # 38 % lead to an investigation (DOMAIN.md §7)
            length = round(rng.uniform(45, 110) * pressure)
            case.closes_on, case.investigation_met = day + timedelta(days=decided + length), length <= 120
            case.opened_on = day + timedelta(days=decided)
        else:
            case.closes_on = day + timedelta(days=decided)
        return case

    def _snapshot(self, out: Outcome, loads: dict[str, Load], day: date) -> None:
        mentors = active_mentors(self.unit.staff, day, self.unit.rules)
        away = self.absences.get(day, frozenset())
        for w in self.unit.staff:
            weighted = loads.get(w.staff_id, Load()).weighted
            load = as_cases(weighted)
            out.daily_load.setdefault(w.staff_id, []).append(load)
            working = has_started(w, day) and w.staff_id not in away
            cap = capacity(w, day, self.unit.rules, mentors) if working else 0
            out.daily_usage.setdefault(w.staff_id, []).append(weighted / cap if cap else float("nan"))
            regular = working and not is_new_hire(w, day, self.unit.rules) and w.staff_id not in mentors
            out.daily_per_fte.setdefault(w.staff_id, []).append(
                load / w.employment_rate if regular else float("nan")
            )
            out.daily_per_rate.setdefault(w.staff_id, []).append(
                load / w.employment_rate if working else float("nan")
            )


def _index(index: dict[str, list[int]], case: Case, n: int) -> None:
    for key in {case.referral.child_key, case.referral.family_key}:
        index.setdefault(key, []).append(n)


def _prior(c: Case, unit: Unit) -> PriorCase:
    closed = None if c.closes_on is None else datetime.combine(c.closes_on, time(0), unit.tz)
    return PriorCase(c.caseworker, c.team, c.referral.child_key, c.referral.family_key, closed)


def _loads(open_cases: list[Case], last: dict[str, datetime]) -> dict[str, Load]:
    """Each caseworker's open load at the start of a day, and when they were last assigned a case
    (open or not), as the service reads `caseworker_loads` and `assignments`."""
    loads = {who: Load(0, 0, at) for who, at in last.items()}
    for c in open_cases:
        old = loads.get(c.caseworker, Load())
        loads[c.caseworker] = Load(old.weighted + c.weight, old.open_cases + 1, old.last_assigned_at)
    return loads


@dataclass(frozen=True)
class Comparison:
    """Every policy over the same referrals, with the unit's absences and without any."""

    unit: Unit
    outcomes: list[Outcome]
    without_absences: list[Outcome]
    days: int
    referrals: int


def compare(days: int, policies: tuple[str, ...], seed: int, config: Path) -> Comparison:
    """Run every policy on the same referrals and absences."""
    unit = unit_from_config(load_unit_config(config))
    rng = random.Random(seed)
    referrals = make_referrals(days, rng, unit)
    sim = Simulation(unit, make_absences(unit.staff, days, rng))
    outcomes = [sim.run(policy, referrals, days, seed) for policy in policies]
    # The same year with nobody away separates what absences do from what the policy does.
    present = Simulation(unit, {})
    without_absences = [present.run(policy, referrals, days, seed) for policy in policies]
    return Comparison(unit, outcomes, without_absences, days, len(referrals))
