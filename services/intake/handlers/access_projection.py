"""Keeping the access projection: who each referral belongs to, from assignment's events.

Runs in the consumer's unit of work (its inbox row commits with the change)."""

from __future__ import annotations

from collections.abc import Sequence

from services.intake.domain.dossier import Assigned, Updated
from services.intake.domain.feedback import Decided
from services.intake.handlers.feedback import on_decisions
from services.intake.ports import IntakeUnitOfWork


async def project_assignments(uow: IntakeUnitOfWork, changes: Sequence[Assigned]) -> None:
    """Apply a run of assignments and reassignments, in order."""
    await uow.access_projection.assigned(changes)


async def project_updates(uow: IntakeUnitOfWork, changes: Sequence[Updated]) -> None:
    """Apply a run of status changes, in order; a decision may make feedback to the reporter owed."""
    await uow.access_projection.updated(changes)
    decisions = [
        (Decided(c.referral_id, c.decision, c.at), c.feedback_due is not None)
        for c in changes
        if c.decision is not None and c.at is not None
    ]
    if decisions:
        await on_decisions(uow, decisions)
