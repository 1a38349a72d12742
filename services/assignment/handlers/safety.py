"""Use case of the safety flag on a referral (domain/safety.py decides who may)."""

from __future__ import annotations

from datetime import datetime

from services.assignment.domain.access import Actor
from services.assignment.domain.errors import CaseNotFound
from services.assignment.domain.safety import SafetyFlagChange, change_flag
from services.assignment.domain.unit import Unit
from services.assignment.ports import AssignmentUnitOfWork


async def set_safety_flag(
    uow: AssignmentUnitOfWork, unit: Unit, referral_id: str, flag: str | None, actor: Actor, now: datetime
) -> SafetyFlagChange:
    """Set (or with None clear) the referral's flag, keeping who and when. The case's row is
    locked first, as every other change of a case locks it, so a reassignment running at the
    same time keeps the flag. CaseNotFound, NotPermitted."""
    async with uow:
        case = await uow.cases.get_for_update(referral_id)
        if case is None:
            raise CaseNotFound
        change = change_flag(case, flag, actor, unit, now)
        await uow.safety_flags.change(change)
        await uow.commit()
    return change
