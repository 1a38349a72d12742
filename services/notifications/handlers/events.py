"""Consumed events become deliveries, once per event x recipient x channel; acute assignments
start escalation and acknowledgements stop it."""

from __future__ import annotations

from collections.abc import Sequence

from services.notifications.domain.escalation import escalation_for
from services.notifications.domain.routing import (
    TEAMS,
    Acknowledgement,
    NewDelivery,
    Occurrence,
    deliveries_for,
)
from services.notifications.domain.unit import Unit
from services.notifications.ports import NotificationsUnitOfWork
from shared.clock import Clock


async def record_events(
    uow: NotificationsUnitOfWork, events: Sequence[Occurrence | Acknowledgement], unit: Unit, clock: Clock
) -> None:
    """A run of consumed events, in the consumer's unit of work: escalation writes in event order,
    then every delivery with one pipelined statement. Deliveries and escalations are separate
    tables that neither write reads across, so a run leaves the rows its events would one by one.
    """
    now = clock.now()
    deliveries: list[NewDelivery] = []
    for event in events:
        if isinstance(event, Acknowledgement):
            await uow.escalations.stop(event.referral_id, event.at)
            continue
        deliveries += deliveries_for(event, unit, now)
        escalation = escalation_for(event, unit)
        if escalation is not None:
            await uow.escalations.start(escalation)
    await uow.deliveries.add(deliveries)
    # A webhook's slot exists before its first message can be claimed (an existing one is kept).
    await uow.webhook_slots.open(sorted({d.recipient for d in deliveries if d.channel == TEAMS}))
