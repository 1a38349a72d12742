"""Postgres side of the monthly access-log review: which months were sent (`access_reviews`,
migration 006), a store of intake's unit of work (`adapters/postgres.py`)."""

from __future__ import annotations

from datetime import datetime

from services.intake.adapters.postgres_session import Session
from shared.events import OutboxRow
from shared.outbox import insert_if

# The month's row, and only if it was inserted, its event in the outbox and the relay's wake-up.
_CLAIM = insert_if(
    "INSERT INTO access_reviews (month, sent_at) VALUES ($1, $2)"
    " ON CONFLICT (month) DO NOTHING RETURNING month",
    3,
)


class PostgresReviewStore:
    """The months whose review was sent, in intake's schema."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def sent(self, month: str) -> bool:
        """Whether the month's row is committed (or inserted in this transaction)."""
        conn = await self._session.in_transaction()
        found: bool = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM access_reviews WHERE month = $1)", month
        )
        return found

    async def claim(self, month: str, sent_at: datetime, event: OutboxRow) -> bool:
        """One statement: a concurrent claim holds the primary key until it ends; after its
        commit this one inserts nothing."""
        conn = await self._session.in_transaction()
        inserted = await conn.fetch(_CLAIM, month, sent_at, *event)
        return bool(inserted)
