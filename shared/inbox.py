"""Inbox: remember which messages a consumer handled, in the same transaction as its effects."""

from __future__ import annotations

from shared.db import Conn


async def first_delivery(conn: Conn, consumer: str, message_id: str) -> bool:
    """Record `message_id` for `consumer`; True only the first time.

    Must run inside the caller's transaction. A concurrent duplicate blocks on the primary key
    until the first transaction ends, then sees the conflict, so two instances never both act.
    """
    row = await conn.fetchval(
        "INSERT INTO inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
        consumer,
        message_id,
    )
    return row is not None
