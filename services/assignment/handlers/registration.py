"""Use case: intake registered referrals in the system of record (`referrals.registered.v1`).

Runs in the unit of work the consumer opened for a fetched batch. Marking a case registered stops
its registration clock: the deadline scan reads only unregistered cases, so no reminder or breach
follows (one already emitted stays emitted).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.assignment.domain.registration import Registration
from services.assignment.ports import AssignmentUnitOfWork


async def record_registrations(uow: AssignmentUnitOfWork, registrations: Sequence[Registration]) -> None:
    """Keep each referral's first registration and mark its case (now, or when it is assigned)."""
    await uow.cases.register(registrations)
