"""Calendar subscription links in Postgres (migration 009)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.assignment.domain.calendar_feeds import CalendarFeed
from shared.db import Conn

_COLUMNS = "id, staff_id, created_at, expires_at, last_used_at, revoked_at"


class PostgresCalendarFeedStore:
    """Feeds on one connection, in its transaction."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add(
        self, staff_id: str, token_hash: str, created_at: datetime, expires_at: datetime
    ) -> CalendarFeed:
        """Store a new feed; it, with its id."""
        row = await self._conn.fetchrow(
            "INSERT INTO calendar_feeds (staff_id, token_hash, created_at, expires_at)"
            f" VALUES ($1, $2, $3, $4) RETURNING {_COLUMNS}",
            staff_id,
            token_hash,
            created_at,
            expires_at,
        )
        return _feed(row)

    async def by_hash(self, token_hash: str) -> CalendarFeed | None:
        """The feed whose token has this hash (a unique-index lookup of a hash, so its time
        tells nothing about the token), or None."""
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM calendar_feeds WHERE token_hash = $1", token_hash
        )
        return _feed(row) if row else None

    async def get(self, feed_id: int) -> CalendarFeed | None:
        """The feed with this id, or None."""
        row = await self._conn.fetchrow(f"SELECT {_COLUMNS} FROM calendar_feeds WHERE id = $1", feed_id)
        return _feed(row) if row else None

    async def of_staff(self, staff_id: str) -> list[CalendarFeed]:
        """The person's feeds, oldest first."""
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM calendar_feeds WHERE staff_id = $1 ORDER BY id", staff_id
        )
        return [_feed(r) for r in rows]

    async def revoke(self, feed_id: int, at: datetime) -> None:
        """Mark the feed revoked at `at`, unless it was already."""
        await self._conn.execute(
            "UPDATE calendar_feeds SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", feed_id, at
        )

    async def mark_used(self, feed_id: int, at: datetime) -> None:
        """Record that the feed was read at `at`."""
        await self._conn.execute("UPDATE calendar_feeds SET last_used_at = $2 WHERE id = $1", feed_id, at)


def _feed(row: Any) -> CalendarFeed:
    return CalendarFeed(*row)
