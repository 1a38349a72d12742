"""`referral-router simulate`: a year of referrals through the pure assignment domain, in memory.

No Kafka and no Postgres: the same rotation, selection, capacity and deadline functions the
assignment service uses decide every referral; baselines (round-robin, fewest open cases) take
the same referrals, absences and new hires. Synthetic data only: keys are counters.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from services.assignment.domain.decide import Situation, decide
from services.assignment.domain.model import Availability, Caseworker, Load, PriorCase, Referral
from services.assignment.domain.rotation import assignment_instant, on_duty_team
from services.assignment.domain.selection import NoCandidate, continuity_match
from services.assignment.domain.workload import active_mentors, capacity, has_started, is_new_hire
from services.assignment.handlers import AssignmentContext
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
    weight: float
    assigned_on: date
    closes_on: date | None = None
    preliminary_met: bool = True
    investigation_met: bool | None = None
    opened_on: date | None = None  # the day an investigation was opened (after the preliminary assessment)


@dataclass
class Outcome:
    """What one policy did over the run."""

    policy: str
    cases: list[Case] = field(default_factory=list)
    daily_load: dict[str, list[float]] = field(default_factory=dict)
    daily_usage: dict[str, list[float]] = field(default_factory=dict)
    daily_per_fte: dict[str, list[float]] = field(default_factory=dict)  # NaN: away, new hire or mentor
    daily_per_rate: dict[str, list[float]] = field(default_factory=dict)  # NaN: away; new hires, mentors kept
    continuity_due: int = 0
    continuity_kept: int = 0


def make_referrals(days: int, rng: random.Random, ctx: AssignmentContext) -> list[tuple[datetime, Referral]]:
    """Submissions per day by weekday, holiday and month; siblings and repeat referrals about a child."""
    out: list[tuple[datetime, Referral]] = []
    children: list[tuple[str, str]] = []
    for offset in range(days):
        day = START + timedelta(days=offset)
        mean = 11.0 * MONTH_FACTOR[day.month] * (1.0 if ctx.calendar.is_office_day(day) else 0.2)
        for _ in range(_poisson(mean / 1.3, rng)):  # about 1.3 children per submission
            at = datetime.combine(
                day, time(rng.choice([*range(8, 17)] * 4 + [*range(0, 8), *range(17, 24)])), ctx.tz
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

    def __init__(self, ctx: AssignmentContext, absences: dict[date, frozenset[str]]) -> None:
        self.ctx, self.absences = ctx, absences

    def available(self, day: date) -> list[Caseworker]:
        """Caseworkers who have started and are not away on `day`."""
        away = self.absences.get(day, frozenset())
        return [w for w in self.ctx.staff if has_started(w, day) and w.staff_id not in away]

    def away(self, day: date) -> frozenset[str]:
        """Everyone not at work on `day`: away, or not yet hired."""
        here = {w.staff_id for w in self.available(day)}
        return frozenset(w.staff_id for w in self.ctx.staff if w.staff_id not in here)

    def returning(self, day: date) -> frozenset[str]:
        """At work on `day` after an absence that ended within `return_days`, as the service reads it.

        The service (`postgres.read_before_lock`) caps new cases for anyone whose absence
        ended in the last `return_days` days; the simulation must apply the same cap, or the
        weighted policy would fill a returning caseworker's empty caseload in a day.
        """
        window = range(1, self.ctx.rules.return_days + 1)
        back = {s for d in window for s in self.absences.get(day - timedelta(days=d), frozenset())}
        return frozenset(back - self.absences.get(day, frozenset()))

    def run(self, policy: str, referrals: list[tuple[datetime, Referral]], days: int, seed: int) -> Outcome:
        """Assign every referral under `policy`; cases close by a workload-dependent model."""
        rng, out = random.Random(seed), Outcome(policy)
        by_day: dict[date, list[tuple[datetime, Referral]]] = {}
        for at, r in referrals:
            instant = assignment_instant(
                self.ctx.config.assignment_policy, at, self.ctx.calendar, self.ctx.tz
            )
            by_day.setdefault(instant.astimezone(self.ctx.tz).date(), []).append((instant, r))
        index: dict[str, list[Case]] = {}
        turn: dict[str, int] = {}
        last: dict[str, datetime] = {}
        for offset in range(days):
            day = START + timedelta(days=offset)
            open_now = [c for c in out.cases if c.closes_on is None or c.closes_on > day]
            loads = {k: Load(v.weighted, v.open_cases, last.get(k)) for k, v in _loads(open_now).items()}
            present = self.available(day)
            availability = Availability(self.away(day), self.returning(day))
            for instant, r in by_day.get(day, []):
                prior = [
                    _prior(c, self.ctx) for key in (r.child_key, r.family_key) for c in index.get(key, [])
                ]
                match = continuity_match(r, prior, instant, self.ctx.rules.continuity_days)
                duty = on_duty_team(self.ctx.plan, instant, self.ctx.tz)
                team, who = self._choose(
                    policy,
                    Situation(r, duty, match, self.ctx.staff, loads, availability, day),
                    present,
                    turn,
                )
                if match is not None and match.caseworker in {w.staff_id for w in present}:
                    out.continuity_due += 1
                    out.continuity_kept += who == match.caseworker
                case = self._open_case(r, team, who, day, loads, rng)
                out.cases.append(case)
                for key in (r.child_key, r.family_key):
                    index.setdefault(key, []).append(case)
                old, last[who] = loads.get(who, Load()), instant
                loads[who] = Load(
                    old.weighted + case.weight, old.open_cases + 1, instant, old.assigned_today + 1
                )
            self._snapshot(out, loads, day)
        return out

    def _choose(
        self, policy: str, s: Situation, present: list[Caseworker], turn: dict[str, int]
    ) -> tuple[str, str]:
        team = [w for w in present if w.team == s.duty.team]
        if policy == "weighted":
            try:
                d = decide(s, self.ctx.rules, self.ctx.weights)
                return d.team, d.staff_id
            except NoCandidate:
                return s.duty.team, self._manager(s.duty.team)
        if not team:
            return s.duty.team, self._manager(s.duty.team)
        if policy == "round_robin":
            turn[s.duty.team] = turn.get(s.duty.team, -1) + 1
            return s.duty.team, team[turn[s.duty.team] % len(team)].staff_id
        return s.duty.team, min(
            team, key=lambda w: (s.loads.get(w.staff_id, Load()).open_cases, w.staff_id)
        ).staff_id

    def _manager(self, team_id: str) -> str:
        team = self.ctx.config.team(team_id)
        return team.manager.id if team else team_id

    def _open_case(
        self, r: Referral, team: str, who: str, day: date, loads: dict[str, Load], rng: random.Random
    ) -> Case:
        weight = self.ctx.weights.weight(r.categories, r.acute_danger, r.interpreter_needed)
        worker = next((w for w in self.ctx.staff if w.staff_id == who), None)
        mentors = active_mentors(self.ctx.staff, day, self.ctx.rules)  # a mentor's capacity is reduced
        cap = capacity(worker, day, self.ctx.rules, mentors) if worker else self.ctx.rules.max_load
        usage = min(1.5, loads.get(who, Load()).weighted / cap)
        pressure = 0.7 + 0.4 * usage  # an overloaded caseworker decides later
        decided = round(rng.uniform(2, 13) * pressure)
        case = Case(r, team, who, weight, day, preliminary_met=decided <= 14)
        if rng.random() < 0.38:  # 38 % lead to an investigation (DOMAIN.md §7)
            length = round(rng.uniform(45, 110) * pressure)
            case.closes_on, case.investigation_met = day + timedelta(days=decided + length), length <= 120
            case.opened_on = day + timedelta(days=decided)
        else:
            case.closes_on = day + timedelta(days=decided)
        return case

    def _snapshot(self, out: Outcome, loads: dict[str, Load], day: date) -> None:
        mentors = active_mentors(self.ctx.staff, day, self.ctx.rules)
        away = self.absences.get(day, frozenset())
        for w in self.ctx.staff:
            load = loads.get(w.staff_id, Load()).weighted
            out.daily_load.setdefault(w.staff_id, []).append(load)
            working = has_started(w, day) and w.staff_id not in away
            cap = capacity(w, day, self.ctx.rules, mentors) if working else 0.0
            out.daily_usage.setdefault(w.staff_id, []).append(load / cap if cap else float("nan"))
            regular = working and not is_new_hire(w, day, self.ctx.rules) and w.staff_id not in mentors
            out.daily_per_fte.setdefault(w.staff_id, []).append(
                load / w.employment_rate if regular else float("nan")
            )
            out.daily_per_rate.setdefault(w.staff_id, []).append(
                load / w.employment_rate if working else float("nan")
            )


def _prior(c: Case, ctx: AssignmentContext) -> PriorCase:
    closed = None if c.closes_on is None else datetime.combine(c.closes_on, time(0), ctx.tz)
    return PriorCase(c.caseworker, c.team, c.referral.child_key, c.referral.family_key, closed)


def _loads(cases: list[Case]) -> dict[str, Load]:
    loads: dict[str, Load] = {}
    for c in cases:
        old = loads.get(c.caseworker, Load())
        loads[c.caseworker] = Load(old.weighted + c.weight, old.open_cases + 1)
    return loads


@dataclass(frozen=True)
class Comparison:
    """Every policy over the same referrals, with the unit's absences and without any."""

    ctx: AssignmentContext
    outcomes: list[Outcome]
    without_absences: list[Outcome]
    days: int
    referrals: int


def compare(days: int, policies: tuple[str, ...], seed: int, config: Path) -> Comparison:
    """Run every policy on the same referrals and absences."""
    ctx = AssignmentContext.from_config(load_unit_config(config))
    rng = random.Random(seed)
    referrals = make_referrals(days, rng, ctx)
    sim = Simulation(ctx, make_absences(ctx.staff, days, rng))
    outcomes = [sim.run(policy, referrals, days, seed) for policy in policies]
    # The same year with nobody away separates what absences do from what the policy does.
    present = Simulation(ctx, {})
    without_absences = [present.run(policy, referrals, days, seed) for policy in policies]
    return Comparison(ctx, outcomes, without_absences, days, len(referrals))
