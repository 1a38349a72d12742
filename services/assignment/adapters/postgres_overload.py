"""Overload flags in Postgres (migration 008)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.assignment.domain.overload import OverloadFlag
from shared.db import Conn

_COLUMNS = (
    "flag_id::text, staff_id, team, note, raised_at, escalate_at, escalated_at, action,"
    " responded_by, responded_at, comment, capacity_factor::float8, relief_until, reassigned"
)
_SELECT = f"SELECT {_COLUMNS} FROM overload_flags"


class PostgresOverloadFlagStore:
    """Flags on one connection, in its transaction."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add(self, flag: OverloadFlag) -> bool:
        """Store a new open flag; False when the person has an open one (the partial unique
        index decides, so two requests at once store one flag)."""
        row = await self._conn.fetchrow(
            "INSERT INTO overload_flags (flag_id, staff_id, team, note, raised_at, escalate_at)"
            " VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (staff_id) WHERE responded_at IS NULL DO NOTHING RETURNING 1",
            flag.flag_id, flag.staff_id, flag.team, flag.note, flag.raised_at, flag.escalate_at,
        )  # fmt: skip
        return row is not None

    async def get(self, flag_id: str) -> OverloadFlag | None:
        """The flag, or None."""
        return _flag(await self._conn.fetchrow(f"{_SELECT} WHERE flag_id = $1::uuid", flag_id))

    async def get_for_update(self, flag_id: str) -> OverloadFlag | None:
        """The flag, its row locked to the end of the transaction, or None."""
        row = await self._conn.fetchrow(f"{_SELECT} WHERE flag_id = $1::uuid FOR UPDATE", flag_id)
        return _flag(row)

    async def open_of(self, staff_id: str) -> OverloadFlag | None:
        """The person's open flag, if any."""
        row = await self._conn.fetchrow(f"{_SELECT} WHERE staff_id = $1 AND responded_at IS NULL", staff_id)
        return _flag(row)

    async def answer(self, flag: OverloadFlag) -> bool:
        """Store the answer of an open flag, whole; False when it was answered already."""
        row = await self._conn.fetchrow(
            "UPDATE overload_flags SET action = $2, responded_by = $3, responded_at = $4,"
            " comment = $5, capacity_factor = $6, relief_until = $7, reassigned = $8"
            " WHERE flag_id = $1::uuid AND responded_at IS NULL RETURNING 1",
            flag.flag_id, flag.action, flag.responded_by, flag.responded_at, flag.comment,
            flag.capacity_factor, flag.relief_until, flag.reassigned,
        )  # fmt: skip
        return row is not None

    async def listed(
        self, team: str | None = None, staff_id: str | None = None, open_only: bool | None = None
    ) -> list[OverloadFlag]:
        """Flags matching every filter given, newest raised first."""
        rows = await self._conn.fetch(
            f"{_SELECT} WHERE ($1::text IS NULL OR team = $1) AND ($2::text IS NULL OR staff_id = $2)"
            " AND ($3::bool IS NULL OR (responded_at IS NULL) = $3)"
            " ORDER BY raised_at DESC, flag_id DESC",
            team,
            staff_id,
            open_only,
        )
        return [_flag_of(r) for r in rows]

    async def in_effect(self, at: datetime) -> list[OverloadFlag]:
        """Open flags and reliefs still running at `at`."""
        rows = await self._conn.fetch(
            f"{_SELECT} WHERE responded_at IS NULL OR (action = 'relieve' AND relief_until > $1)", at
        )
        return [_flag_of(r) for r in rows]

    async def due_for_escalation(self, now: datetime) -> list[OverloadFlag]:
        """Open flags due to escalate and not escalated yet, oldest due first."""
        rows = await self._conn.fetch(
            f"{_SELECT} WHERE responded_at IS NULL AND escalated_at IS NULL AND escalate_at <= $1"
            " ORDER BY escalate_at",
            now,
        )
        return [_flag_of(r) for r in rows]

    async def mark_escalated(self, flag_id: str, at: datetime) -> bool:
        """Mark an open flag escalated; False when it was already, or is answered."""
        row = await self._conn.fetchrow(
            "UPDATE overload_flags SET escalated_at = $2 WHERE flag_id = $1::uuid"
            " AND responded_at IS NULL AND escalated_at IS NULL RETURNING 1",
            flag_id,
            at,
        )
        return row is not None


def _flag(row: Any) -> OverloadFlag | None:
    return _flag_of(row) if row is not None else None


def _flag_of(row: Any) -> OverloadFlag:
    return OverloadFlag(*row)
