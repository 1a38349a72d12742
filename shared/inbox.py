"""Inbox: remember which messages a consumer handled, in the same transaction as its effects."""

from __future__ import annotations

from collections.abc import Sequence

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


async def first_deliveries(conn: Conn, consumer: str, message_ids: Sequence[str]) -> set[str]:
    """Record many message ids for `consumer` in one round trip; return those seen for the first time.

    The same guarantees as `first_delivery`, for a batch handled in one transaction. An id that
    occurs twice in `message_ids` is returned once; the caller acts on its first occurrence only.
    """
    rows = await conn.fetch(
        "INSERT INTO inbox (consumer, message_id) SELECT $1, unnest($2::text[])"
        " ON CONFLICT DO NOTHING RETURNING message_id",
        consumer,
        list(message_ids),
    )
    return {row["message_id"] for row in rows}
