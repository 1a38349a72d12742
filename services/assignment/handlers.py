"""Assignment's use case: route a received referral to a team and a caseworker, fairly."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
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
    OfficeCalendar,
    OnDuty,
    Referral,
    RotationPlan,
    WeightRules,
)
from services.assignment.domain.rotation import assignment_instant, on_duty
from services.assignment.domain.selection import NoCandidate, continuity_match
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
    ReferralAssigned,
    ReferralReceived,
    new_envelope,
)
from shared.outbox import outbox_row
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
    instant = assignment_instant(ctx.config.assignment_policy, received.received_at, ctx.calendar, ctx.tz)
    day = instant.astimezone(ctx.tz).date()
    before = await postgres.read_before_lock(
        conn, received.referral_id, instant, received.child_key, received.family_key, day,
        ctx.rules.return_days,
    )  # fmt: skip
    if before.assigned:
        return  # already assigned by an earlier event about the same referral
    duty = on_duty(ctx.plan, before.overrides, instant, ctx.tz)
    situation = await load_situation(conn, to_referral(received), duty, instant, before, ctx)
    decision = decide_or_manager(situation, ctx)
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
    await postgres.insert_assignment(conn, row, outbox_row(TOPIC_ASSIGNED, envelope))


async def load_situation(
    conn: Conn, referral: Referral, duty: OnDuty, instant: datetime, before: postgres.Before,
    ctx: AssignmentContext,
) -> Situation:  # fmt: skip
    """Continuity first (it may pick the team), then the team's loads under its lock."""
    match = continuity_match(referral, before.prior, instant, ctx.rules.continuity_days)
    day = instant.astimezone(ctx.tz).date()
    team = target_team(duty, match)
    await postgres.lock_team(conn, team)
    members = [w.staff_id for w in ctx.staff if w.team == team]
    loads = await postgres.team_loads(conn, team, day, members)
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
