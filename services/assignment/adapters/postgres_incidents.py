"""Incidents and safety flags in Postgres (migration 010)."""

from __future__ import annotations

import dataclasses
from datetime import date

from services.assignment.domain.incidents import Incident
from services.assignment.domain.safety import SafetyFlagChange
from shared.db import Conn

_INCIDENT = ", ".join(f.name for f in dataclasses.fields(Incident))
# The flag on the case's row and the change beside it, in one statement: both or neither.
CHANGE_SQL = (
    "WITH flagged AS (UPDATE assignments SET safety_flag = $2 WHERE referral_id = $1 RETURNING referral_id)"
    " INSERT INTO safety_flag_changes (referral_id, safety_flag, set_by, set_at)"
    " SELECT referral_id, $2, $3, $4 FROM flagged RETURNING id"
)


class PostgresIncidentStore:
    """Incidents on one connection, in its transaction."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add(self, incident: Incident) -> None:
        """Store a new incident."""
        await self._conn.execute(
            f"INSERT INTO incidents ({_INCIDENT}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            *dataclasses.astuple(incident),
        )

    async def between(self, first: date, last: date) -> list[Incident]:
        """Incidents from `first` to `last`, by day, recording time and id."""
        rows = await self._conn.fetch(
            f"SELECT {_INCIDENT} FROM incidents WHERE occurred_on BETWEEN $1 AND $2"
            " ORDER BY occurred_on, recorded_at, incident_id",
            first,
            last,
        )
        return [Incident(*r) for r in rows]


class PostgresSafetyFlagStore:
    """Safety flags on one connection, in its transaction."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def change(self, change: SafetyFlagChange) -> bool:
        """Set the case's flag and keep the change; False without an assignment. The UPDATE
        names no column the load trigger watches, so it needs no team lock."""
        row_id = await self._conn.fetchval(CHANGE_SQL, *dataclasses.astuple(change))
        return row_id is not None

    async def history(self, referral_id: str) -> list[SafetyFlagChange]:
        """The referral's changes, oldest first."""
        rows = await self._conn.fetch(
            "SELECT referral_id, safety_flag, set_by, set_at FROM safety_flag_changes"
            " WHERE referral_id = $1 ORDER BY id",
            referral_id,
        )
        return [SafetyFlagChange(*r) for r in rows]
