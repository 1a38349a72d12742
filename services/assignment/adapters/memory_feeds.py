"""Calendar subscription links in memory, as `postgres_feeds.py` keeps them."""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Callable
from datetime import datetime

from services.assignment.adapters.memory_stores import AssignmentTables
from services.assignment.domain.calendar_feeds import CalendarFeed


class InMemoryCalendarFeedStore:
    """Feeds by id, each with its token's hash."""

    def __init__(self, tables: AssignmentTables) -> None:
        self._tables = tables

    async def add(
        self, staff_id: str, token_hash: str, created_at: datetime, expires_at: datetime
    ) -> CalendarFeed:
        """Store a new feed; it, with its id."""
        if any(h == token_hash for h, _ in self._tables.calendar_feeds.values()):
            raise ValueError("token hash already stored")  # the UNIQUE constraint
        feed = CalendarFeed(self._tables.next_id(), staff_id, created_at, expires_at)
        self._tables.calendar_feeds[feed.id] = (token_hash, feed)
        return feed

    async def by_hash(self, token_hash: str) -> CalendarFeed | None:
        """The feed whose token has this hash, compared in constant time, or None."""
        found = None
        for stored, feed in self._tables.calendar_feeds.values():
            if hmac.compare_digest(stored, token_hash):
                found = feed
        return found

    async def get(self, feed_id: int) -> CalendarFeed | None:
        """The feed with this id, or None."""
        row = self._tables.calendar_feeds.get(feed_id)
        return row[1] if row else None

    async def of_staff(self, staff_id: str) -> list[CalendarFeed]:
        """The person's feeds, oldest first."""
        return sorted(
            (f for _, f in self._tables.calendar_feeds.values() if f.staff_id == staff_id), key=lambda f: f.id
        )

    async def revoke(self, feed_id: int, at: datetime) -> None:
        """Mark the feed revoked at `at`, unless it was already."""
        self._change(feed_id, lambda f: f if f.revoked_at else dataclasses.replace(f, revoked_at=at))

    async def mark_used(self, feed_id: int, at: datetime) -> None:
        """Record that the feed was read at `at`."""
        self._change(feed_id, lambda f: dataclasses.replace(f, last_used_at=at))

    def _change(self, feed_id: int, change: Callable[[CalendarFeed], CalendarFeed]) -> None:
        row = self._tables.calendar_feeds.get(feed_id)
        if row is not None:
            self._tables.calendar_feeds[feed_id] = (row[0], change(row[1]))
