"""Overrides, absences, deadline alerts and handovers in Postgres."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from services.assignment.adapters.postgres_assignments import OVERRIDES_SQL
from services.assignment.domain.deadlines import Alert, OpenDeadline
from services.assignment.domain.model import Override
from services.assignment.domain.rotation import Handover
from services.assignment.domain.workload import Absence
from shared.db import Conn

# Every unmet deadline due by $1, with the alerts already emitted for it. A branch per clock,
# each read from a partial index of its unmet rows (migration 004), so closed history is not
# scanned; whether an alert is due is decided in Python, and only then is a transaction opened.
_OPEN_CLOCK = (
    "SELECT referral_id, family_key, team, {caseworker} AS caseworker, '{name}'::text AS name,"
    " {due} AS due_at FROM assignments WHERE {unmet} AND {due} IS NOT NULL AND {due} <= $1"
)
OPEN_DEADLINES_SQL = (
    "SELECT o.*, ARRAY(SELECT alert FROM deadline_alerts a WHERE a.referral_id = o.referral_id"
    " AND a.deadline = o.name AND a.due_at = o.due_at) AS done FROM ("
    + " UNION ALL ".join(
        _OPEN_CLOCK.format(name=name, due=due, unmet=unmet, caseworker=caseworker)
        for name, due, unmet, caseworker in (
            (
                "protection_assessment",
                "protection_due",
                "protection_assessed_at IS NULL AND closed_at IS NULL",
                "caseworker",
            ),
            ("preliminary_assessment", "preliminary_due", "decided_at IS NULL", "caseworker"),
            ("investigation", "investigation_due", "closed_at IS NULL", "caseworker"),
            ("reporter_feedback", "feedback_due", "feedback_sent_at IS NULL", "caseworker"),
            # The intake group registers: the clock is nobody's own (migration 006's index).
            ("registration", "registration_due", "registered_at IS NULL", "NULL::text"),
        )
    )
    + ") AS o"
)


class PostgresOverrideStore:
    """Overrides on one connection, in its transaction."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def between(self, start: datetime, end: datetime) -> list[Override]:
        """Overrides overlapping [start, end], oldest first (later ones win)."""
        sql = f"SELECT ARRAY({OVERRIDES_SQL.format(start='$1', end='$2')})"
        return [Override(*r) for r in await self._conn.fetchval(sql, start, end)]

    async def add(self, override: Override, created_by: str) -> int:
        """Store an override; its id."""
        row_id: int = await self._conn.fetchval(
            "INSERT INTO rotation_overrides (team, starts_at, ends_at, reason, created_by)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            override.team, override.starts_at, override.ends_at, override.reason, created_by,
        )  # fmt: skip
        return row_id


class PostgresAbsenceStore:
    """Absences on one connection, in its transaction."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add(self, absence: Absence, created_by: str) -> int:
        """Store an absence; its id."""
        row_id: int = await self._conn.fetchval(
            "INSERT INTO absences (staff_id, starts_on, ends_on, kind, created_by)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            absence.staff_id, absence.starts_on, absence.ends_on, absence.kind, created_by,
        )  # fmt: skip
        return row_id

    async def ending_on_or_after(self, day: date) -> list[Absence]:
        """Absences not over before `day`, by first day."""
        rows = await self._conn.fetch(
            "SELECT staff_id, starts_on, ends_on, kind FROM absences WHERE ends_on >= $1"
            " ORDER BY starts_on, id",
            day,
        )
        return [Absence(*r) for r in rows]

    async def end_early(self, staff_id: str, back_on: date) -> int:
        """Cut the person's absences running on `back_on` (domain `ended_early`); how many."""
        status: str = await self._conn.execute(
            "UPDATE absences SET ends_on = $2::date - 1"
            " WHERE staff_id = $1 AND starts_on < $2 AND ends_on >= $2",
            staff_id, back_on,
        )  # fmt: skip
        return int(status.split()[-1])


class PostgresScheduledEventStore:
    """Deadline alerts and handovers on one connection; a unique key makes each one once."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def open_deadlines(self, due_by: datetime) -> list[OpenDeadline]:
        """Every unmet clock due by `due_by` with the alerts it had, in one query."""
        rows = await self._conn.fetch(OPEN_DEADLINES_SQL, due_by)
        return [_open_deadline(r) for r in rows]

    async def add_alert(self, deadline: OpenDeadline, alert: Alert) -> bool:
        """Record the alert; False when another scan recorded it first."""
        inserted = await self._conn.fetchval(
            "INSERT INTO deadline_alerts (referral_id, deadline, alert, due_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            deadline.referral_id, deadline.name, alert.key, deadline.due_at,
        )  # fmt: skip
        return inserted is not None

    async def add_handover(self, handover: Handover) -> bool:
        """Record the handover; False when another scan recorded it first."""
        inserted = await self._conn.fetchval(
            "INSERT INTO rotation_handovers (at, from_team, to_team) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            handover.at.astimezone(UTC), handover.from_team, handover.to_team,
        )  # fmt: skip
        return inserted is not None


def _open_deadline(r: Any) -> OpenDeadline:
    return OpenDeadline(
        r["referral_id"],
        r["family_key"],
        r["team"],
        r["caseworker"],
        r["name"],
        r["due_at"],
        frozenset(r["done"]),
    )
