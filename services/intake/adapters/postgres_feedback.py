"""Postgres side of feedback to mandatory reporters (migration 009), a store of intake's unit of
work (`adapters/postgres.py`)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from services.intake.adapters.postgres_session import Session
from services.intake.domain.feedback import Decided, FeedbackRequest, Sending

_SENDING_COLUMNS = ", ".join(f.name for f in dataclasses.fields(Sending))
_REQUEST_COLUMNS = "referral_id, requested_at, channel, source, recorded_by"
_OWE = (
    f"INSERT INTO feedback_sendings ({_SENDING_COLUMNS})"
    f" VALUES ({', '.join(f'${i}' for i in range(1, len(dataclasses.fields(Sending)) + 1))})"
    " ON CONFLICT (referral_id) DO NOTHING RETURNING referral_id"
)
_SAVE = (
    "UPDATE feedback_sendings SET "
    + ", ".join(f"{f.name} = ${i}" for i, f in enumerate(dataclasses.fields(Sending)[1:], start=2))
    + " WHERE referral_id = $1"
)
_CLAIM = f"""
UPDATE feedback_sendings s SET state = 'sending'
FROM (SELECT referral_id FROM feedback_sendings
      WHERE state = 'pending' AND next_attempt_at <= $1
      ORDER BY next_attempt_at, referral_id LIMIT $2 FOR UPDATE SKIP LOCKED) due
WHERE s.referral_id = due.referral_id
RETURNING {", ".join(f"s.{f.name}" for f in dataclasses.fields(Sending))}
"""


class PostgresFeedbackStore:
    """Decisions, requests and sendings in intake's schema."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def hold(self, referral_id: str) -> None:
        """A transaction-scoped advisory lock on the referral's feedback."""
        conn = await self._session.in_transaction()
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('feedback:' || $1, 0))", referral_id
        )

    async def decided(self, decided: Decided) -> None:
        """Insert the decision unless one is stored."""
        conn = await self._session.in_transaction()
        await conn.execute(
            "INSERT INTO decisions (referral_id, decision, decided_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (referral_id) DO NOTHING",
            decided.referral_id, decided.decision, decided.decided_at,
        )  # fmt: skip

    async def decision(self, referral_id: str) -> Decided | None:
        """The stored decision, if any."""
        conn = await self._session.in_transaction()
        row = await conn.fetchrow(
            "SELECT referral_id, decision, decided_at FROM decisions WHERE referral_id = $1", referral_id
        )
        return None if row is None else Decided(**dict(row))

    async def add_request(self, request: FeedbackRequest, recorded_at: datetime) -> FeedbackRequest:
        """Insert unless one is stored, then read the stored one."""
        conn = await self._session.in_transaction()
        await conn.execute(
            f"INSERT INTO feedback_requests ({_REQUEST_COLUMNS}, recorded_at) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (referral_id) DO NOTHING",
            *dataclasses.astuple(request), recorded_at,
        )  # fmt: skip
        stored = await self.request(request.referral_id)
        assert stored is not None  # inserted, or there before
        return stored

    async def request(self, referral_id: str) -> FeedbackRequest | None:
        """The stored request, if any."""
        conn = await self._session.in_transaction()
        row = await conn.fetchrow(
            f"SELECT {_REQUEST_COLUMNS} FROM feedback_requests WHERE referral_id = $1", referral_id
        )
        return None if row is None else FeedbackRequest(**dict(row))

    async def owe(self, sending: Sending) -> bool:
        """Insert unless the referral has a sending."""
        conn = await self._session.in_transaction()
        return bool(await conn.fetch(_OWE, *dataclasses.astuple(sending)))

    async def sending(self, referral_id: str) -> Sending | None:
        """The referral's sending, if any."""
        conn = await self._session.in_transaction()
        row = await conn.fetchrow(
            f"SELECT {_SENDING_COLUMNS} FROM feedback_sendings WHERE referral_id = $1", referral_id
        )
        return _sending(row)

    async def claim_due(self, now: datetime, limit: int) -> list[Sending]:
        """One statement: the due rows locked (others' skipped) and moved to `sending`."""
        conn = await self._session.in_transaction()
        rows = await conn.fetch(_CLAIM, now, limit)
        return sorted((s for s in map(_sending, rows) if s), key=lambda s: (s.next_attempt_at, s.referral_id))

    async def save(self, sending: Sending) -> None:
        """Update every column of the row."""
        conn = await self._session.in_transaction()
        await conn.execute(_SAVE, *dataclasses.astuple(sending))


def _sending(row: Any) -> Sending | None:
    return None if row is None else Sending(**dict(row))
