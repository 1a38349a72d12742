"""Notification use cases: turn events into deliveries, once per event x recipient x channel."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from services.notifications import escalations, postgres
from services.notifications.domain import Notice, adaptive_card, next_office_start, render
from services.notifications.routing import NotificationContext, Target, notice_for, targets
from shared.db import Conn
from shared.events import Envelope, ReferralAssigned

log = logging.getLogger(__name__)
PRODUCER = "notifications"
NOTIFIED = frozenset(
    {"referral.received", "referral.assigned", "referral.reassigned", "deadline.approaching",
     "deadline.breached", "rotation.handover"}
)  # fmt: skip


async def on_event(conn: Conn, event: Envelope[Any], ctx: NotificationContext) -> None:
    """Create the deliveries an event calls for; acute assignments start escalation, acks stop it."""
    deliveries = await _apply(conn, event, ctx)
    for delivery in deliveries:
        await postgres.create_delivery(conn, delivery)


async def on_run(conn: Conn, events: Sequence[Envelope[Any]], ctx: NotificationContext) -> None:
    """`on_event` for a run of events: escalations in event order, then every delivery in one
    pipelined statement. Deliveries and escalations are separate tables that neither statement
    reads across, so the rows equal the events one by one (test_notifications_runs.py)."""
    deliveries = [d for event in events for d in await _apply(conn, event, ctx)]
    await postgres.create_deliveries(conn, deliveries)


async def _apply(conn: Conn, event: Envelope[Any], ctx: NotificationContext) -> list[postgres.NewDelivery]:
    """Escalation writes for the event, and the deliveries it calls for (to be stored)."""
    if event.event_type == "referral.acknowledged":
        await escalations.stop(conn, event.data.referral_id, event.data.at)
        return []
    if event.event_type not in NOTIFIED:
        return []
    notice = notice_for(event, ctx)
    deliveries = [
        new_delivery(ctx, notice, target, source_event_id=event.event_id, family_key=event.data.family_key)
        for target in targets(event, ctx)
    ]
    if isinstance(event.data, ReferralAssigned) and event.data.acute_danger:
        await escalations.start(conn, event, ctx.config.notifications.escalation.after)
    return deliveries


async def create_for(
    conn: Conn, ctx: NotificationContext, notice: Notice, target: Target, *, source_event_id: uuid.UUID,
    family_key: str,
) -> bool:  # fmt: skip
    """Render one notice for one target and store it as a pending delivery (held if quiet hours)."""
    delivery = new_delivery(ctx, notice, target, source_event_id=source_event_id, family_key=family_key)
    return await postgres.create_delivery(conn, delivery)


def new_delivery(
    ctx: NotificationContext, notice: Notice, target: Target, *, source_event_id: uuid.UUID, family_key: str
) -> postgres.NewDelivery:
    """One notice rendered for one target, as a pending delivery (held if quiet hours)."""
    now = ctx.clock.now()
    held = ctx.config.notifications.quiet_hours.enabled and not notice.acute and not ctx.office_time(now)
    subject, text, html, card = _rendered(ctx, notice, target)
    return postgres.NewDelivery(
        source_event_id=source_event_id, recipient=target.recipient, channel=target.channel,
        kind=notice.kind, referral_id=notice.reference, family_key=family_key, subject=subject,
        body_text=text, body_html=html, card=card,
        not_before=next_office_start(ctx.office, now) if held else now, held=held,
    )  # fmt: skip


def _rendered(
    ctx: NotificationContext, notice: Notice, target: Target
) -> tuple[str, str, str | None, str | None]:
    if target.channel == "teams":
        card = adaptive_card(notice, ctx.tz, ctx.language)
        subject = card["attachments"][0]["content"]["body"][0]["text"]
        return subject, "", None, json.dumps(card, ensure_ascii=False)
    person = ctx.config.person(target.recipient)
    message = render(notice, person.name if person else target.recipient, ctx.tz, ctx.language)
    return message.subject, message.text, message.html, None
