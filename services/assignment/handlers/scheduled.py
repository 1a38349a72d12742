"""Use cases of the timer: deadline reminders and breaches, and rotation handovers, each once.

Each alert and handover gets a row with a unique key in the same unit of work as its event, and
a deterministic event id (uuid5), so restarts and several instances never emit one twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from services.assignment.domain.deadlines import Alert, OpenDeadline, longest_reminder
from services.assignment.domain.rotation import (
    OVERRIDE_HORIZON,
    Handover,
    recent_handovers,
    standing_handover,
)
from services.assignment.domain.unit import Unit
from services.assignment.handlers.assign import PRODUCER
from services.assignment.handlers.consultations import emit_consultation_reminders
from services.assignment.ports import AssignmentUnitOfWork
from shared.events import (
    TOPIC_DEADLINES,
    TOPIC_ROTATION,
    DeadlineEvent,
    OutboxRow,
    RotationHandover,
    new_envelope,
    outbox_row,
)

NAMESPACE = uuid.UUID("5b0f7a52-8d7e-4f0e-9a57-2c4d1e6b9f10")
UnitsOfWork = Callable[[], AssignmentUnitOfWork]


def event_id(*parts: object) -> uuid.UUID:
    """A deterministic event id, so an alert emitted twice would collide in the outbox too."""
    return uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts))


async def emit_scheduled_events(units_of_work: UnitsOfWork, unit: Unit, now: datetime) -> int:
    """Emit the handovers, deadline alerts and consultation reminders due at `now`; how many
    events were added."""
    emitted = await emit_handovers(units_of_work(), unit, now)
    emitted += await emit_deadline_alerts(units_of_work, unit, now)
    return emitted + await emit_consultation_reminders(units_of_work(), unit, now)


async def emit_deadline_alerts(units_of_work: UnitsOfWork, unit: Unit, now: datetime) -> int:
    """Every alert due on an open clock, a unit of work per clock with any due.

    One read for every open clock within the longest reminder lead; a unit of work only for a
    clock with an alert due (there used to be one per open clock and scan: thousands of round
    trips every 30 s). An alert another instance emitted meanwhile is skipped.
    """
    async with units_of_work() as uow:
        deadlines = await uow.scheduled.open_deadlines(now + longest_reminder(unit.deadlines))
    emitted = 0
    for deadline in deadlines:
        due = deadline.alerts_due(now, unit.deadlines)
        if not due:
            continue
        async with units_of_work() as uow:
            for alert in due:
                if await uow.scheduled.add_alert(deadline, alert):
                    await uow.outbox.add([_deadline_event(deadline, alert)])
                    emitted += 1
            await uow.commit()
    return emitted


async def emit_handovers(uow: AssignmentUnitOfWork, unit: Unit, now: datetime) -> int:
    """One rotation.handover per change of team in the last day, however many instances run."""
    emitted = 0
    async with uow:
        overrides = await uow.overrides.between(now - OVERRIDE_HORIZON, now + OVERRIDE_HORIZON)
        for handover in recent_handovers(unit.plan, overrides, now, unit.tz):
            if await uow.scheduled.add_handover(handover):
                await uow.outbox.add([_handover_event(handover)])
                emitted += 1
        await uow.commit()
    return emitted


async def announce_on_duty(uow: AssignmentUnitOfWork, unit: Unit, now: datetime) -> int:
    """At start: the team on duty as `rotation.on_duty` when the handover that put it there lies
    before what a scan looks back on and was never announced (a fresh installation, or one down
    across a handover), so that metrics show who is on duty at once. Nobody is notified of it:
    a handover card days late would mislead. Recorded like a handover, so once per period."""
    async with uow:
        overrides = await uow.overrides.between(now - OVERRIDE_HORIZON, now + OVERRIDE_HORIZON)
        standing = standing_handover(unit.plan, overrides, now, unit.tz)
        if standing is None or not await uow.scheduled.add_handover(standing):
            return 0
        await uow.outbox.add([_handover_event(standing, "rotation.on_duty")])
        await uow.commit()
    return 1


def _deadline_event(deadline: OpenDeadline, alert: Alert) -> OutboxRow:
    data = DeadlineEvent(
        referral_id=deadline.referral_id,
        family_key=deadline.family_key,
        deadline=deadline.name,
        due_at=deadline.due_at,
        team=deadline.team,
        caseworker=deadline.caseworker,
        lead_seconds=None if alert.lead is None else int(alert.lead.total_seconds()),
    )
    envelope = new_envelope(
        f"deadline.{alert.kind}", data, producer=PRODUCER, correlation_id=deadline.referral_id
    )
    stable = event_id(
        deadline.referral_id, deadline.name, deadline.due_at.astimezone(UTC).isoformat(), alert.key
    )
    return outbox_row(TOPIC_DEADLINES, envelope.model_copy(update={"event_id": stable}))


def _handover_event(handover: Handover, event_type: str = "rotation.handover") -> OutboxRow:
    data = RotationHandover(
        from_team=handover.from_team,
        to_team=handover.to_team,
        at=handover.at.astimezone(UTC),
        next_handover_at=handover.next_at and handover.next_at.astimezone(UTC),
    )
    envelope = new_envelope(event_type, data, producer=PRODUCER, correlation_id="rotation")
    stable = event_id("handover", handover.at.astimezone(UTC).isoformat())
    return outbox_row(TOPIC_ROTATION, envelope.model_copy(update={"event_id": stable}))
