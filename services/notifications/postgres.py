"""Postgres adapter for deliveries: create once, claim, and record outcomes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from shared.db import Conn


@dataclass(frozen=True)
class NewDelivery:
    """A delivery to create for a source event."""

    source_event_id: uuid.UUID
    recipient: str
    channel: str
    kind: str
    referral_id: str | None
    family_key: str
    subject: str
    body_text: str


async def create_delivery(conn: Conn, d: NewDelivery) -> bool:
    """Insert a pending delivery; False when this event x recipient x channel already has one."""
    inserted = await conn.fetchval(
        "INSERT INTO deliveries (source_event_id, recipient, channel, kind, referral_id,"
        " family_key, subject, body_text) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)"
        " ON CONFLICT (source_event_id, recipient, channel) DO NOTHING RETURNING 1",
        d.source_event_id,
        d.recipient,
        d.channel,
        d.kind,
        d.referral_id,
        d.family_key,
        d.subject,
        d.body_text,
    )
    if inserted is not None:
        await conn.execute("SELECT pg_notify('deliveries_' || current_schema(), '')")
    return inserted is not None


async def claim_due(pool: asyncpg.Pool, limit: int, lease_s: float) -> list[asyncpg.Record]:
    """Move due pending deliveries to `sending` under a lease, committed before any send."""
    return await pool.fetch(
        "UPDATE deliveries SET status = 'sending', attempts = attempts + 1,"
        " claimed_until = now() + make_interval(secs => $2)"
        " WHERE id IN (SELECT id FROM deliveries WHERE status = 'pending'"
        "   AND next_attempt_at <= now() ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)"
        " RETURNING *",
        limit,
        lease_s,
    )


async def finish(conn: Conn, delivery_id: int, status: str, error: str | None) -> None:
    """Record a final outcome: sent, failed or unknown."""
    await conn.execute(
        "UPDATE deliveries SET status = $2, last_error = $3, finished_at = now(),"
        " claimed_until = NULL WHERE id = $1",
        delivery_id,
        status,
        error,
    )


async def retry_later(pool: asyncpg.Pool, delivery_id: int, delay_s: float, error: str) -> None:
    """Put a delivery back to pending after a retryable error."""
    await pool.execute(
        "UPDATE deliveries SET status = 'pending', last_error = $3, claimed_until = NULL,"
        " next_attempt_at = now() + make_interval(secs => $2) WHERE id = $1",
        delivery_id,
        delay_s,
        error,
    )


async def expired_claims(conn: Conn) -> list[asyncpg.Record]:
    """Deliveries left in `sending` past their lease: the sender died mid-send. Locked."""
    return await conn.fetch(
        "SELECT * FROM deliveries WHERE status = 'sending' AND claimed_until < now() FOR UPDATE SKIP LOCKED"
    )
