"""Notification use cases: turn events into deliveries, and deliveries into sent messages."""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.notifications import postgres
from services.notifications.domain import AssignedFacts, assigned_message
from services.notifications.ports import Ambiguous, EmailSender, Permanent, Retryable
from shared.db import Conn
from shared.events import TOPIC_NOTIFICATIONS, Envelope, NotificationOutcome, ReferralAssigned, new_envelope
from shared.outbox import add_to_outbox
from shared.unit_config import UnitConfig

log = logging.getLogger(__name__)
PRODUCER = "notifications"


@dataclass(frozen=True)
class NotificationContext:
    """The unit config and rendering choices, built once at start-up."""

    config: UnitConfig
    tz: ZoneInfo
    max_attempts: int = 8


async def on_assigned(conn: Conn, event: Envelope[Any], ctx: NotificationContext) -> None:
    """One email to the assigned caseworker per assignment event."""
    data: ReferralAssigned = event.data
    person = ctx.config.person(data.caseworker)
    team = ctx.config.team(data.team)
    message = assigned_message(
        AssignedFacts(
            referral_id=data.referral_id,
            team_name=team.name if team else data.team,
            caseworker_name=person.name if person else data.caseworker,
            acute=data.acute_danger,
            protection_due=data.deadlines.protection_assessment_due,
            preliminary_due=data.deadlines.preliminary_assessment_due,
            link=f"{ctx.config.base_url}/v1/referrals/{data.referral_id}",
        ),
        ctx.tz,
        ctx.config.language,
    )
    await postgres.create_delivery(
        conn,
        postgres.NewDelivery(
            source_event_id=event.event_id,
            recipient=data.caseworker,
            channel="email",
            kind=event.event_type,
            referral_id=data.referral_id,
            family_key=data.family_key,
            subject=message.subject,
            body_text=message.text,
        ),
    )


async def deliver(
    pool: asyncpg.Pool, row: asyncpg.Record, email: EmailSender, ctx: NotificationContext
) -> str:
    """Send one claimed delivery and record what became of it; return the outcome."""
    person = ctx.config.person(row["recipient"])
    try:
        if person is None:
            raise Permanent("recipient is not in the unit config")
        await email.send(str(person.email), row["subject"], row["body_text"])
    except Retryable as exc:
        if row["attempts"] < ctx.max_attempts:
            delay = min(300.0, 2.0 ** row["attempts"]) * random.uniform(0.5, 1.0)
            await postgres.retry_later(pool, row["id"], delay, str(exc))
            return "retry"
        return await record_outcome(pool, row, "failed", str(exc))
    except Permanent as exc:
        return await record_outcome(pool, row, "failed", str(exc))
    except Ambiguous as exc:
        return await record_outcome(pool, row, "unknown", str(exc))
    return await record_outcome(pool, row, "sent", None)


async def record_outcome(pool: asyncpg.Pool, row: asyncpg.Record, status: str, error: str | None) -> str:
    """Store the final status and publish it on notifications.v1, in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        await postgres.finish(conn, row["id"], status, error)
        await add_to_outbox(conn, TOPIC_NOTIFICATIONS, _outcome_event(row, status))
    if status != "sent":
        log.warning("delivery not sent", extra={"delivery_id": row["id"], "status": status, "error": error})
    return status


async def mark_abandoned_unknown(pool: asyncpg.Pool) -> int:
    """Deliveries whose sender died mid-send become `unknown`; they are never resent."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await postgres.expired_claims(conn)
        for row in rows:
            await postgres.finish(conn, row["id"], "unknown", "sender stopped while sending")
            await add_to_outbox(conn, TOPIC_NOTIFICATIONS, _outcome_event(row, "unknown"))
    return len(rows)


def _outcome_event(row: asyncpg.Record, status: str) -> Any:
    data = NotificationOutcome(
        family_key=row["family_key"],
        source_event_id=row["source_event_id"],
        channel=row["channel"],
        recipient=row["recipient"],
        attempts=row["attempts"],
        kind=row["kind"],
    )
    return new_envelope(
        f"notification.{status}",
        data,
        producer=PRODUCER,
        correlation_id=row["referral_id"] or str(row["source_event_id"]),
        causation_id=str(row["source_event_id"]),
    ).model_copy(update={"event_id": uuid.uuid5(row["source_event_id"], f"{row['id']}:{status}")})
