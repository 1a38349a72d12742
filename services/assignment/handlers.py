"""Assignment's use case: route a received referral to a team and a caseworker, fairly."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from services.assignment import postgres
from services.assignment.domain.deadlines import referral_deadlines
from services.assignment.domain.decide import Situation, decide, target_team
from services.assignment.domain.model import (
    Availability,
    CapacityRules,
    Caseworker,
    DeadlineRules,
    Decision,
    Load,
    OfficeCalendar,
    OnDuty,
    PriorCase,
    Referral,
    RotationPlan,
    WeightRules,
)
from services.assignment.domain.rotation import assignment_instant, on_duty
from services.assignment.domain.selection import NoCandidate, continuity_candidates, continuity_match
from services.assignment.unit_config import (
    capacity_rules,
    caseworkers,
    deadline_rules,
    office_calendar,
    rotation_plan,
    weight_rules,
)
from shared.consumer import PoisonMessage
from shared.db import Conn
from shared.events import (
    TOPIC_ASSIGNED,
    Deadlines,
    Envelope,
    OutboxRow,
    ReferralAssigned,
    ReferralReceived,
    new_envelope,
    outbox_row,
)
from shared.unit_config import UnitConfig

PRODUCER = "assignment"


@dataclass(frozen=True)
class AssignmentContext:
    """The unit as assignment sees it, built once at start-up."""

    config: UnitConfig
    plan: RotationPlan
    calendar: OfficeCalendar
    tz: ZoneInfo
    staff: tuple[Caseworker, ...] = ()
    rules: CapacityRules = field(default_factory=CapacityRules)
    weights: WeightRules = field(default_factory=WeightRules)
    deadlines: DeadlineRules = field(default_factory=DeadlineRules)

    @classmethod
    def from_config(cls, config: UnitConfig) -> AssignmentContext:
        """Translate the validated unit config into domain rules."""
        plan, tz = rotation_plan(config)
        return cls(
            config,
            plan,
            office_calendar(config),
            tz,
            caseworkers(config),
            capacity_rules(config),
            weight_rules(config),
            deadline_rules(config),
        )


def to_referral(received: ReferralReceived) -> Referral:
    """The wire event as selection sees it."""
    return Referral(
        received.referral_id,
        received.child_key,
        received.family_key,
        tuple(received.categories),
        received.acute_danger,
        received.interpreter_needed,
    )


async def assign_referral(conn: Conn, event: Envelope[Any], ctx: AssignmentContext) -> None:
    """Load under the team's lock, decide, save the assignment and its event in one transaction.

    Four statements: everything that does not need the team's lock in one, the lock, the team's
    loads, and the assignment with its outbox row.
    """
    received: ReferralReceived = event.data
    instant, day = _when(received, ctx)
    before = await postgres.read_before_lock(
        conn, received.referral_id, instant, received.child_key, received.family_key, day,
        ctx.rules.return_days,
    )  # fmt: skip
    if before.assigned:
        return  # already assigned by an earlier event about the same referral
    duty = on_duty(ctx.plan, before.overrides, instant, ctx.tz)
    situation = await load_situation(conn, to_referral(received), duty, instant, before, ctx)
    decision = decide_or_manager(situation, ctx)
    await postgres.insert_assignment(conn, *_assignment(event, decision, situation, ctx))


async def assign_run(conn: Conn, events: Sequence[Envelope[Any]], ctx: AssignmentContext) -> None:
    """Assign a run of received referrals in one go: the same decisions, rows and events as
    `assign_referral` for each in order, in a handful of statements instead of four each.

    One pipelined read for every referral's `Before`; each team's lock and loads once; then
    each decision in order, carrying forward in memory what the earlier ones changed (a case
    in the chosen caseworker's load, an earlier case for a sibling's continuity, the referral
    itself as assigned); one pipelined insert of every assignment and event. The loads carried
    forward are exact (`postgres.ExactLoad`), so they equal what a fresh read would return.
    """
    when = [_when(e.data, ctx) for e in events]
    befores = await postgres.read_before_lock_many(
        conn,
        [
            (e.data.referral_id, instant, e.data.child_key, e.data.family_key, day, ctx.rules.return_days)
            for e, (instant, day) in zip(events, when, strict=True)
        ],
    )
    run = _Run(conn, ctx)
    await run.lock(_teams_a_run_may_need(events, when, befores, ctx))
    for event, (instant, day), before in zip(events, when, befores, strict=True):
        received: ReferralReceived = event.data
        if before.assigned or received.referral_id in run.assigned:
            continue
        before = replace(before, prior=run.prior_with_earlier(received, before.prior))
        duty = on_duty(ctx.plan, before.overrides, instant, ctx.tz)
        referral = to_referral(received)
        match = continuity_match(referral, before.prior, instant, ctx.rules.continuity_days)
        loads = await run.loads(target_team(duty, match), day)
        situation = _situation(referral, duty, match, before, ctx, loads, day)
        decision = decide_or_manager(situation, ctx)
        run.add(_assignment(event, decision, situation, ctx), before.now)
    await postgres.insert_assignments(conn, run.rows)


@dataclass
class _Run:
    """What a run's earlier decisions changed, not yet in the database, and its team loads."""

    conn: Conn
    ctx: AssignmentContext
    rows: list[tuple[postgres.NewAssignment, OutboxRow]] = field(default_factory=list)
    assigned: set[str] = field(default_factory=set)
    _stored: dict[tuple[str, date], dict[str, postgres.ExactLoad]] = field(default_factory=dict)
    _added: dict[tuple[str, str], list[postgres.NewAssignment]] = field(default_factory=dict)
    _prior: list[PriorCase] = field(default_factory=list)  # newest first, as the database orders
    _now: datetime | None = None
    _locked: set[str] = field(default_factory=set)

    async def lock(self, teams: Collection[str]) -> None:
        """Take the teams' locks at once, in the one order every writer uses (`lock_teams`)."""
        await postgres.lock_teams(self.conn, teams)
        self._locked |= set(teams)

    def prior_with_earlier(self, received: ReferralReceived, stored: list[PriorCase]) -> list[PriorCase]:
        """The earlier cases a fresh read would return: the run's own first (they are newer)."""
        mine = [
            p for p in self._prior if received.child_key == p.child_key or received.family_key == p.family_key
        ]
        return (mine + stored)[: postgres.PRIOR_LIMIT]

    async def loads(self, team: str, day: date) -> dict[str, Load]:
        """The team's loads on the day, as stored plus the run's own assignments, read under the
        team's lock (held to the end of the transaction)."""
        if team not in self._locked:  # `_teams_a_run_may_need` names every team; this is a safety net
            await self.lock([team])
        if (team, day) not in self._stored:
            members = [w.staff_id for w in self.ctx.staff if w.team == team]
            self._stored[team, day] = await postgres.exact_team_loads(self.conn, team, day, members)
        return {cw: self._carried(team, cw, day, stored) for cw, stored in self._stored[team, day].items()}

    def _carried(self, team: str, cw: str, day: date, stored: postgres.ExactLoad) -> Load:
        added = self._added.get((team, cw), [])
        if not added:
            return stored.as_load()
        last = max(filter(None, (stored.last_assigned_at, self._now)))
        return postgres.ExactLoad(
            stored.weighted + sum((postgres.as_numeric(a.weight) for a in added), Decimal(0)),
            stored.open_cases + len(added),
            last,
            stored.assigned_today + sum(1 for a in added if a.day == day),
        ).as_load()

    def add(self, row: tuple[postgres.NewAssignment, OutboxRow], now: datetime) -> None:
        """Carry an assignment forward: in its caseworker's load, as an earlier case, as done."""
        a = row[0]
        self.rows.append(row)
        self.assigned.add(a.received.referral_id)
        self._added.setdefault((a.decision.team, a.decision.staff_id), []).append(a)
        self._prior.insert(0, PriorCase(a.decision.staff_id, a.decision.team, a.received.child_key,
                                        a.received.family_key, None))  # fmt: skip
        self._now = now


def _teams_a_run_may_need(
    events: Sequence[Envelope[Any]], when: Sequence[tuple[datetime, date]],
    befores: Sequence[postgres.Before], ctx: AssignmentContext,
) -> set[str]:  # fmt: skip
    """Every team whose loads the run may read: each referral's team on duty and the teams of the
    stored cases continuity could choose. A case the run itself assigns went to one of these
    teams already, so the set holds whatever continuity chooses in the end. It may hold a team
    not needed in the end (a case that a newer one of the run takes the place of): harmless."""
    teams: set[str] = set()
    for event, (instant, _), before in zip(events, when, befores, strict=True):
        teams.add(on_duty(ctx.plan, before.overrides, instant, ctx.tz).team)
        teams.update(p.team for p in continuity_candidates(
            to_referral(event.data), before.prior, instant, ctx.rules.continuity_days))  # fmt: skip
    return teams


def _when(received: ReferralReceived, ctx: AssignmentContext) -> tuple[datetime, date]:
    """The moment the referral is assigned as of (policy: at once, or next office hours) and its day."""
    instant = assignment_instant(ctx.config.assignment_policy, received.received_at, ctx.calendar, ctx.tz)
    return instant, instant.astimezone(ctx.tz).date()


def _assignment(
    event: Envelope[Any], decision: Decision, situation: Situation, ctx: AssignmentContext
) -> tuple[postgres.NewAssignment, OutboxRow]:
    """The row to store for a decision and its referral.assigned event."""
    received: ReferralReceived = event.data
    duty = situation.duty
    deadlines = referral_deadlines(received.received_at, ctx.calendar, ctx.tz, ctx.deadlines)
    weight = ctx.weights.weight(
        tuple(received.categories), received.acute_danger, received.interpreter_needed
    )
    assigned = ReferralAssigned(
        referral_id=received.referral_id,
        family_key=received.family_key,
        team=decision.team,
        caseworker=decision.staff_id,
        mentor=decision.mentor,
        reason=decision.reason,
        explanation=decision.explanation,
        period_start=duty.period_start.astimezone(UTC),
        period_end=duty.period_end.astimezone(UTC),
        source=duty.source,
        acute_danger=received.acute_danger,
        protected_identity=received.protected_identity,
        received_at=received.received_at,
        deadlines=Deadlines(
            protection_assessment_due=deadlines.protection_assessment_due.astimezone(UTC),
            preliminary_assessment_due=deadlines.preliminary_assessment_due.astimezone(UTC),
        ),
        weight=weight,
    )
    envelope = new_envelope(
        "referral.assigned",
        assigned,
        producer=PRODUCER,
        correlation_id=event.correlation_id,
        causation_id=str(event.event_id),
    )
    row = postgres.NewAssignment(received, assigned, decision, duty, situation.day, weight)
    return row, outbox_row(TOPIC_ASSIGNED, envelope)


async def load_situation(
    conn: Conn, referral: Referral, duty: OnDuty, instant: datetime, before: postgres.Before,
    ctx: AssignmentContext,
) -> Situation:  # fmt: skip
    """Continuity first (it may pick the team), then the team's loads under its lock."""
    match = continuity_match(referral, before.prior, instant, ctx.rules.continuity_days)
    day = instant.astimezone(ctx.tz).date()
    team = target_team(duty, match)
    await postgres.lock_teams(conn, [team])
    members = [w.staff_id for w in ctx.staff if w.team == team]
    loads = await postgres.team_loads(conn, team, day, members)
    return _situation(referral, duty, match, before, ctx, loads, day)


def _situation(
    referral: Referral, duty: OnDuty, match: PriorCase | None, before: postgres.Before,
    ctx: AssignmentContext, loads: dict[str, Load], day: date,
) -> Situation:  # fmt: skip
    conflicts = ctx.config.assignment.conflicts_of_interest
    excluded = frozenset(c.staff_id for c in conflicts if c.key in (referral.child_key, referral.family_key))
    availability = Availability(before.absent, before.returning, excluded)
    return Situation(referral, duty, match, ctx.staff, loads, availability, day)


def decide_or_manager(situation: Situation, ctx: AssignmentContext) -> Decision:
    """The domain's decision; when nobody in the team can take it, the team's manager distributes it."""
    try:
        return decide(situation, ctx.rules, ctx.weights)
    except NoCandidate:
        team_id = target_team(situation.duty, situation.match)
        team = ctx.config.team(team_id)
        if team is None:
            raise PoisonMessage(f"rotation names team {team_id} that the unit config lacks") from None
        why = f"nobody in team {team_id} can take it today (absent, excluded, restricted): the manager"
        reason = "override" if situation.duty.source == "override" else "rotation"
        return Decision(team_id, team.manager.id, None, reason, why)
