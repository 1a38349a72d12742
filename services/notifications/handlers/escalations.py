"""Due escalations become deliveries, exactly once per level."""

from __future__ import annotations

from collections.abc import Callable

from services.notifications.domain.escalation import escalate
from services.notifications.domain.unit import Unit
from services.notifications.ports import NotificationsUnitOfWork
from shared.clock import Clock

BATCH = 50


async def escalate_due(unit_of_work: Callable[[], NotificationsUnitOfWork], unit: Unit, clock: Clock) -> int:
    """Tell the next level of every due escalation; how many levels were told.

    Each level's delivery is created in the transaction that advances the level, under a source
    event id of the referral and level, so a level is told once whatever fails in between."""
    async with unit_of_work() as uow:
        now = clock.now()
        escalated = [escalate(e, unit, now) for e in await uow.escalations.due(now, BATCH)]
        await uow.deliveries.add([delivery for delivery, _ in escalated])
        await uow.escalations.save([advanced for _, advanced in escalated])
        await uow.commit()
    return len(escalated)
