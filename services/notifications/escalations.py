"""Escalation of acute referrals nobody acknowledged: manager first, then the head of unit.

Rows are written when an acute referral is assigned and deleted by referral.acknowledged. The
scheduler creates each level's delivery in the same transaction that advances the level, under
a source event id derived from the referral and level, so a level is notified exactly once.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from shared.db import Conn
from shared.events import Envelope

LAST_LEVEL = 2


async def start(conn: Conn, event: Envelope[Any], after: timedelta) -> None:
    """Watch an acute referral unless it was already acknowledged."""
    await conn.execute(
        "INSERT INTO escalations (referral_id, family_key, team, source_event_id, due_at, since)"
        " SELECT $1, $2, $3, $4, $5::timestamptz + $6::interval, $5::timestamptz"
        " WHERE NOT EXISTS (SELECT 1 FROM acknowledged WHERE referral_id = $1)"
        " ON CONFLICT (referral_id) DO NOTHING",
        event.data.referral_id, event.data.family_key, event.data.team, event.event_id,
        event.occurred_at, after,
    )  # fmt: skip


async def stop(conn: Conn, referral_id: str, at: datetime) -> None:
    """Someone acted: no more escalation for this referral."""
    await conn.execute(
        "INSERT INTO acknowledged (referral_id, at) VALUES ($1, $2) ON CONFLICT DO NOTHING", referral_id, at
    )
    await conn.execute("DELETE FROM escalations WHERE referral_id = $1", referral_id)


async def take_due(conn: Conn, now: datetime, limit: int = 50) -> list[asyncpg.Record]:
    """Due escalations, locked for this transaction."""
    return await conn.fetch(
        "SELECT * FROM escalations WHERE level < $2 AND due_at <= $1 ORDER BY due_at LIMIT $3"
        " FOR UPDATE SKIP LOCKED",
        now, LAST_LEVEL, limit,
    )  # fmt: skip


async def advance(conn: Conn, referral_id: str, after: timedelta) -> None:
    """The current level has been notified: the next one is due `after` later."""
    await conn.execute(
        "UPDATE escalations SET level = level + 1, due_at = due_at + $2::interval WHERE referral_id = $1",
        referral_id,
        after,
    )


def level_event_id(row: asyncpg.Record) -> uuid.UUID:
    """The stable source event id of one escalation level."""
    return uuid.uuid5(row["source_event_id"], f"escalation:{row['level'] + 1}")
