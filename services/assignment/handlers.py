"""Assignment's use case: route a received referral to the team on duty and a caseworker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

from services.assignment import postgres
from services.assignment.domain.deadlines import referral_deadlines
from services.assignment.domain.model import OfficeCalendar, RotationPlan
from services.assignment.domain.rotation import assignment_instant, on_duty_team
from services.assignment.domain.selection import NoCandidate, select_caseworker
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
from shared.outbox import add_to_outbox
from shared.unit_config import UnitConfig

PRODUCER = "assignment"


@dataclass(frozen=True)
class AssignmentContext:
    """The unit as assignment sees it, built once at start-up."""

    config: UnitConfig
    plan: RotationPlan
    calendar: OfficeCalendar
    tz: ZoneInfo


async def assign_referral(conn: Conn, event: Envelope[Any], ctx: AssignmentContext) -> None:
    """Load the team's loads under its lock, decide, save the assignment and its event."""
    received: ReferralReceived = event.data
    instant = assignment_instant(ctx.config.assignment_policy, received.received_at, ctx.calendar, ctx.tz)
    duty = on_duty_team(ctx.plan, instant, ctx.tz)
    team = ctx.config.team(duty.team)
    if team is None:
        raise PoisonMessage(f"rotation names team {duty.team} that the unit config lacks")
    members = {m.id: m for m in team.members}
    candidates = await postgres.candidates_locked(conn, team.id, members)
    try:
        choice = select_caseworker(candidates)
    except NoCandidate as exc:
        raise PoisonMessage(f"team {team.id}: {exc}") from None
    deadlines = referral_deadlines(received.received_at, ctx.calendar, ctx.tz)
    assigned = ReferralAssigned(
        referral_id=received.referral_id,
        family_key=received.family_key,
        team=team.id,
        caseworker=choice.staff_id,
        mentor=choice.mentor,
        reason="rotation",
        explanation=f"team {team.id} on duty ({duty.source}); {choice.explanation}",
        period_start=duty.period_start.astimezone(UTC),
        acute_danger=received.acute_danger,
        protected_identity=received.protected_identity,
        received_at=received.received_at,
        deadlines=Deadlines(
            protection_assessment_due=deadlines.protection_assessment_due.astimezone(UTC),
            preliminary_assessment_due=deadlines.preliminary_assessment_due.astimezone(UTC),
        ),
    )
    if not await postgres.insert_assignment(conn, received, assigned, duty.source):
        return  # already assigned by an earlier event about the same referral
    envelope = new_envelope(
        "referral.assigned",
        assigned,
        producer=PRODUCER,
        correlation_id=event.correlation_id,
        causation_id=str(event.event_id),
    )
    await add_to_outbox(conn, TOPIC_ASSIGNED, envelope)
