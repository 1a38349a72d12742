"""Postgres side of the monthly access-log review: which months were sent, with their figures
(`access_reviews`, migrations 006 and 012), a store of intake's unit of work (`adapters/postgres.py`)."""

from __future__ import annotations

import json
from typing import Any

from services.intake.adapters.postgres_session import Session
from services.intake.domain.access_review import SentReview
from shared.events import OutboxRow
from shared.outbox import insert_if

# The month's row, and only if it was inserted, its event in the outbox and the relay's wake-up.
_CLAIM = insert_if(
    "INSERT INTO access_reviews (month, sent_at, entries, findings, chain_seq, chain_hash)"
    " VALUES ($1, $2, $3, $4::jsonb, $5, $6) ON CONFLICT (month) DO NOTHING RETURNING month",
    7,
)
_RECENT = (
    "SELECT month, sent_at, entries, findings::text AS findings, chain_seq, chain_hash"
    " FROM access_reviews WHERE $1::text IS NULL OR month < $1 ORDER BY month DESC LIMIT $2"
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

    async def claim(self, review: SentReview, event: OutboxRow) -> bool:
        """One statement: a concurrent claim holds the primary key until it ends; after its
        commit this one inserts nothing."""
        conn = await self._session.in_transaction()
        findings = None if review.findings is None else json.dumps(dict(review.findings))
        inserted = await conn.fetch(
            _CLAIM, review.month, review.sent_at, review.entries, findings, review.chain_seq,
            review.chain_hash, *event,
        )  # fmt: skip
        return bool(inserted)

    async def recent(self, before: str | None, limit: int) -> list[SentReview]:
        """Latest month first, months before `before` only."""
        conn = await self._session.in_transaction()
        return [_review(r) for r in await conn.fetch(_RECENT, before, limit)]


def _review(row: Any) -> SentReview:
    findings = None if row["findings"] is None else json.loads(row["findings"])
    return SentReview(
        row["month"], row["sent_at"], row["entries"], findings, row["chain_seq"], row["chain_hash"]
    )
