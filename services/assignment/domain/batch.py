"""Assigning a batch of received referrals: each decided in order, exactly as if one at a time.

A batch reads what its referrals need once (`ReferralFacts`, a team's loads once per day) and
stores its assignments at the end. Until then the database does not show what the batch's own
earlier decisions changed, so `AssignmentBatch` carries it forward in memory: a case in the chosen
caseworker's load (exact: loads are whole hundredths), an earlier case for a sibling's
continuity, and the referral itself as assigned. Every decision therefore sees what a fresh read
after the previous one would have returned. A single referral is a batch of one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from services.assignment.domain.deadlines import referral_deadlines
from services.assignment.domain.decide import Situation, decide_or_manager, target_team
from services.assignment.domain.errors import ImplausibleTime
from services.assignment.domain.model import (
    Availability,
    Deadlines,
    Decision,
    Hundredths,
    Load,
    OnDuty,
    Override,
    PriorCase,
    Referral,
)
from services.assignment.domain.rotation import on_duty
from services.assignment.domain.selection import continuity_candidates, continuity_match
from services.assignment.domain.unit import Unit

PRIOR_LIMIT = 50
"""Earlier cases of a child or family read per referral, newest first."""


PLANNABLE_YEARS = range(2000, 2101)
"""The years the unit's rules are kept for (holidays, rotation, deadlines): a receipt outside them
is refused, not computed with."""


def plannable(at: datetime) -> bool:
    """Whether `at` lies in the years the unit plans for (so no conversion to local time and no
    deadline after it can overflow)."""
    return PLANNABLE_YEARS[0] <= at.year <= PLANNABLE_YEARS[-1]


@dataclass(frozen=True)
class ReceivedReferral:
    """A received referral as assignment keeps it: selection's view and what the case records."""

    referral: Referral
    received_at: datetime
    protected_identity: bool = False
    feedback_requested: bool = False

    def __post_init__(self) -> None:
        if not plannable(self.received_at):
            raise ImplausibleTime("received_at")

    @property
    def referral_id(self) -> str:
        """The referral's opaque id."""
        return self.referral.referral_id


@dataclass(frozen=True)
class FactsQuery:
    """What to read about one referral before its team is locked."""

    referral_id: str
    instant: datetime  # overrides covering it
    child_key: str  # earlier cases of the child, then the family
    family_key: str
    day: date  # who is absent that day
    returning_since: date  # and who came back from an absence ending on or after this day


@dataclass(frozen=True)
class ReferralFacts:
    """What deciding a referral reads before its team's lock: nothing here moves under the lock
    (assignment never writes overrides or absences, and earlier cases only pick the team)."""

    assigned: bool  # an earlier event about the same referral was assigned already
    overrides: tuple[Override, ...]  # covering the instant, oldest first (later ones win)
    prior: tuple[PriorCase, ...]  # the child's and family's cases, newest first, at most PRIOR_LIMIT
    absent: frozenset[str]
    returning: frozenset[str]
    now: datetime  # when the unit of work began: the `assigned_at` of what it stores
    paused: frozenset[str] = frozenset()  # open overload flags (issue 22)
    relief: tuple[tuple[str, float], ...] = ()  # (staff id, capacity factor) of running reliefs


@dataclass(frozen=True)
class NewAssignment:
    """A decision about a received referral, with everything stored and published about it."""

    received: ReceivedReferral
    decision: Decision
    duty: OnDuty
    day: date  # the local day of the assignment instant (its loads and daily counts)
    weight: Hundredths
    deadlines: Deadlines


@dataclass(frozen=True)
class Pending:
    """A referral whose team is known, waiting for that team's loads on its day."""

    received: ReceivedReferral
    facts: ReferralFacts
    instant: datetime
    day: date
    duty: OnDuty
    match: PriorCase | None

    @property
    def team(self) -> str:
        """The team that takes it: the earlier case's under continuity, else the team on duty."""
        return target_team(self.duty, self.match)


def facts_query(unit: Unit, received: ReceivedReferral) -> FactsQuery:
    """What to read about a referral before deciding it."""
    instant, day = unit.assignment_moment(received.received_at)
    r = received.referral
    since = day - timedelta(days=unit.rules.return_days)
    return FactsQuery(r.referral_id, instant, r.child_key, r.family_key, day, since)


def teams_a_batch_may_need(
    unit: Unit,
    referrals: Sequence[ReceivedReferral],
    queries: Sequence[FactsQuery],
    facts: Sequence[ReferralFacts],
) -> set[str]:
    """Every team whose loads the batch may read: each referral's team on duty and the teams of
    the stored cases continuity could choose. A case the batch itself assigns went to one of
    these teams already, so the set holds whatever continuity chooses in the end. It may hold a
    team not needed in the end (a case that a newer one of the batch takes the place of)."""
    teams: set[str] = set()
    days = unit.rules.continuity_days
    for received, query, known in zip(referrals, queries, facts, strict=True):
        teams.add(on_duty(unit.plan, known.overrides, query.instant, unit.tz).team)
        candidates = continuity_candidates(received.referral, known.prior, query.instant, days)
        teams.update(p.team for p in candidates)
    return teams


@dataclass
class AssignmentBatch:
    """Decides a batch's referrals in order, carrying forward what each decision changed."""

    unit: Unit
    assignments: list[NewAssignment] = field(default_factory=list)
    _assigned: set[str] = field(default_factory=set)
    _stored: dict[tuple[str, date], Mapping[str, Load]] = field(default_factory=dict)
    _added: dict[tuple[str, str], list[NewAssignment]] = field(default_factory=dict)
    _earlier: list[PriorCase] = field(default_factory=list)  # newest first, as the database orders
    _now: datetime | None = None

    def prepare(self, received: ReceivedReferral, query: FactsQuery, facts: ReferralFacts) -> Pending | None:
        """The referral's team on duty and earlier case (`facts`, read for `query`); None when it
        is assigned already."""
        if facts.assigned or received.referral_id in self._assigned:
            return None
        instant, day = query.instant, query.day
        prior = self._with_earlier(received.referral, facts.prior)
        duty = on_duty(self.unit.plan, facts.overrides, instant, self.unit.tz)
        match = continuity_match(received.referral, prior, instant, self.unit.rules.continuity_days)
        return Pending(received, facts, instant, day, duty, match)

    def needs_loads(self, pending: Pending) -> bool:
        """Whether the team's stored loads on the referral's day are still to be read."""
        return (pending.team, pending.day) not in self._stored

    def add_stored_loads(self, team: str, day: date, loads: Mapping[str, Load]) -> None:
        """The team's loads as stored (read under its lock), before this batch's assignments."""
        self._stored[team, day] = loads

    def decide(self, pending: Pending) -> NewAssignment:
        """Decide the referral on the loads as they stand after the batch's earlier decisions."""
        received, facts = pending.received, pending.facts
        r = received.referral
        loads = {cw: self._carried(pending.team, cw, pending.day, stored)
                 for cw, stored in self._stored[pending.team, pending.day].items()}  # fmt: skip
        availability = Availability(
            facts.absent, facts.returning, self.unit.excluded_for(r), facts.paused, dict(facts.relief)
        )
        situation = Situation(
            r, pending.duty, pending.match, self.unit.staff, loads, availability, pending.day
        )
        decision = decide_or_manager(situation, self.unit)
        weight = self.unit.weights.weight(r.categories, r.acute_danger, r.interpreter_needed)
        deadlines = referral_deadlines(
            received.received_at, self.unit.calendar, self.unit.tz, self.unit.deadlines, acute=r.acute_danger
        )
        assignment = NewAssignment(received, decision, pending.duty, pending.day, weight, deadlines)
        self._carry_forward(assignment, facts.now)
        return assignment

    def _with_earlier(self, referral: Referral, stored: Iterable[PriorCase]) -> list[PriorCase]:
        """The earlier cases a fresh read would return: the batch's own first (they are newer)."""
        mine = [
            p
            for p in self._earlier
            if referral.child_key == p.child_key or referral.family_key == p.family_key
        ]
        return [*mine, *stored][:PRIOR_LIMIT]

    def _carried(self, team: str, caseworker: str, day: date, stored: Load) -> Load:
        """The stored load plus the batch's own assignments to the caseworker in the team."""
        added = self._added.get((team, caseworker), [])
        if not added:
            return stored
        last = max(filter(None, (stored.last_assigned_at, self._now)))
        return Load(
            stored.weighted + sum(a.weight for a in added),
            stored.open_cases + len(added),
            last,
            stored.assigned_today + sum(1 for a in added if a.day == day),
        )

    def _carry_forward(self, a: NewAssignment, now: datetime) -> None:
        """In its caseworker's load, as an earlier case of its child and family, as assigned."""
        r = a.received.referral
        self.assignments.append(a)
        self._assigned.add(r.referral_id)
        self._added.setdefault((a.decision.team, a.decision.staff_id), []).append(a)
        self._earlier.insert(
            0, PriorCase(a.decision.staff_id, a.decision.team, r.child_key, r.family_key, None)
        )
        self._now = now
