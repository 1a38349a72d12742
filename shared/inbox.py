"""Inbox: remember which messages a consumer handled, in the same transaction as its effects."""

from __future__ import annotations

from collections.abc import Sequence

from shared.db import Conn


class PostgresInbox:
    """The inbox port on one connection, in its transaction."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def first_deliveries(self, consumer: str, message_ids: Sequence[str]) -> set[str]:
        """Record the message ids for `consumer` in one round trip; return those seen for the first time.

        A concurrent duplicate blocks on the primary key until the first transaction ends, then
        sees the conflict, so two instances never both act. An id that occurs twice in
        `message_ids` is returned once; the caller acts on its first occurrence only.
        """
        rows = await self._conn.fetch(
            "INSERT INTO inbox (consumer, message_id) SELECT $1, unnest($2::text[])"
            " ON CONFLICT DO NOTHING RETURNING message_id",
            consumer,
            list(message_ids),
        )
        return {row["message_id"] for row in rows}
