"""Kafka edge of intake: assignment's events, decoded at the edge, into the access projection and
the statistics records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.intake.domain.dossier import Assigned, Updated
from services.intake.domain.statistics import DECISIONS, CaseProgress
from services.intake.handlers.access_projection import project_assignments, project_updates
from services.intake.handlers.statistics import project_decisions
from services.intake.ports import IntakeUnitOfWork
from shared.events import TOPIC_ASSIGNED, TOPIC_UPDATED, Envelope, ReferralAssigned, ReferralUpdated
from shared.runtime import Runtime


def subscribe(runtime: Runtime[Any]) -> None:
    """Project every batch of `referrals.assigned.v1` and `referrals.updated.v1`."""

    async def on_assigned(uow: IntakeUnitOfWork, events: Sequence[Envelope[ReferralAssigned]]) -> None:
        await project_assignments(uow, [assigned(e) for e in events])

    async def on_updated(uow: IntakeUnitOfWork, events: Sequence[Envelope[ReferralUpdated]]) -> None:
        await project_updates(uow, [updated(e) for e in events])
        await project_decisions(uow, [decided(e) for e in events])

    runtime.subscribe(TOPIC_ASSIGNED, ReferralAssigned, on_assigned)
    runtime.subscribe(TOPIC_UPDATED, ReferralUpdated, on_updated)


def assigned(event: Envelope[ReferralAssigned]) -> Assigned:
    """The wire event as the projection takes it."""
    a = event.data
    return Assigned(
        a.referral_id, a.team, a.caseworker, a.mentor,
        a.deadlines.protection_assessment_due, a.deadlines.preliminary_assessment_due,
    )  # fmt: skip


def updated(event: Envelope[ReferralUpdated]) -> Updated:
    """The wire event as the projection takes it: an outcome means the assessment is made."""
    u = event.data
    assessed = event.event_type == "referral.protection_assessed" or u.outcome is not None
    decision = u.decision if event.event_type == "referral.decided" else None
    return Updated(u.referral_id, u.status, assessed, u.investigation_due, u.feedback_due, decision, u.at)


def decided(event: Envelope[ReferralUpdated]) -> CaseProgress:
    """The wire event as the statistics take it: a protection assessment (its own event, or an
    outcome given with another) and a decision of the three the follow-up knows (another code is
    not a decision the file can carry, and must not stop the access projection)."""
    seen = updated(event)  # one reading of the event for both projections
    decision = seen.decision if seen.decision in DECISIONS else None
    return CaseProgress(seen.referral_id, event.data.at, seen.protection_assessed, decision)
