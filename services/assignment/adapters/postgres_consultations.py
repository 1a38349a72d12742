"""Consultations in Postgres (migration 009)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.assignment.domain.consultations import Consultation
from shared.db import Conn

_COLUMNS = (
    "consultation_id, slot_id, team, starts_at, ends_at, requester, topic, referral_id, booked_at,"
    " sequence, cancelled_at, cancelled_by, reminded_at"
)
_ORDER = "ORDER BY starts_at, team, consultation_id"


class PostgresConsultationStore:
    """Consultations on one connection, in its transaction."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add(self, consultation: Consultation) -> bool:
        """Store it; False when the team has a live one at that start. ON CONFLICT DO NOTHING
        waits for a competing uncommitted insert and then skips, without aborting the
        transaction, so the use case can try the next free booking in the same one."""
        c = consultation
        row = await self._conn.fetchrow(
            f"INSERT INTO consultations ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
            " $11, $12, $13) ON CONFLICT (team, starts_at) WHERE cancelled_at IS NULL DO NOTHING"
            " RETURNING consultation_id",
            uuid.UUID(c.consultation_id),
            c.slot_id,
            c.team,
            c.starts_at,
            c.ends_at,
            c.requester,
            c.topic,
            c.referral_id,
            c.booked_at,
            c.sequence,
            c.cancelled_at,
            c.cancelled_by,
            c.reminded_at,
        )
        return row is not None

    async def get(self, consultation_id: str) -> Consultation | None:
        """The consultation or None."""
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM consultations WHERE consultation_id = $1", uuid.UUID(consultation_id)
        )
        return _consultation(row) if row else None

    async def get_for_update(self, consultation_id: str) -> Consultation | None:
        """The consultation, row-locked, or None."""
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM consultations WHERE consultation_id = $1 FOR UPDATE",
            uuid.UUID(consultation_id),
        )
        return _consultation(row) if row else None

    async def save_cancellation(self, consultation: Consultation) -> None:
        """Store the cancellation's fields."""
        await self._conn.execute(
            "UPDATE consultations SET cancelled_at = $2, cancelled_by = $3, sequence = $4"
            " WHERE consultation_id = $1",
            uuid.UUID(consultation.consultation_id),
            consultation.cancelled_at,
            consultation.cancelled_by,
            consultation.sequence,
        )

    async def live_starts(self, team: str, start: datetime, end: datetime) -> set[datetime]:
        """Starts in [start, end) of the team's live consultations."""
        rows = await self._conn.fetch(
            "SELECT starts_at FROM consultations WHERE team = $1 AND cancelled_at IS NULL"
            " AND starts_at >= $2 AND starts_at < $3",
            team,
            start,
            end,
        )
        return {r["starts_at"] for r in rows}

    async def between(self, start: datetime, end: datetime) -> list[Consultation]:
        """Consultations starting in [start, end), by start then team."""
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM consultations WHERE starts_at >= $1 AND starts_at < $2 {_ORDER}",
            start,
            end,
        )
        return [_consultation(r) for r in rows]

    async def of_requester(self, requester: str) -> list[Consultation]:
        """The requester's consultations by start."""
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM consultations WHERE requester = $1 {_ORDER}", requester
        )
        return [_consultation(r) for r in rows]

    async def reminders_due(self, now: datetime, until: datetime) -> list[Consultation]:
        """Live, never reminded, starting in (now, until]."""
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM consultations WHERE cancelled_at IS NULL AND reminded_at IS NULL"
            f" AND starts_at > $1 AND starts_at <= $2 {_ORDER}",
            now,
            until,
        )
        return [_consultation(r) for r in rows]

    async def mark_reminded(self, consultation_id: str, at: datetime) -> bool:
        """Record the reminder once."""
        row = await self._conn.fetchrow(
            "UPDATE consultations SET reminded_at = $2 WHERE consultation_id = $1 AND reminded_at IS NULL"
            " RETURNING consultation_id",
            uuid.UUID(consultation_id),
            at,
        )
        return row is not None


def _consultation(row: Any) -> Consultation:
    values = dict(row)
    values["consultation_id"] = str(values["consultation_id"])
    referral = values["referral_id"]
    values["referral_id"] = None if referral is None else str(referral)
    return Consultation(**values)
