"""The domain figures read from the read models in Postgres, in one read-only snapshot."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.metrics.domain.figures import AssignmentTimes, Figures, OnDuty, ResponseTimes, Workplace
from services.metrics.domain.labels import ASSIGNMENT_BUCKETS, RESPONSE_BUCKETS
from shared.db import Conn

_RECEIVED = "SELECT kind, channel, reporter_group, acute, count(*) FROM received GROUP BY 1, 2, 3, 4"
_ASSIGNMENTS = "SELECT team, reason, count(*) FROM assignment_events GROUP BY 1, 2"
_BREACHES = "SELECT deadline, team, count(*) FROM breaches GROUP BY 1, 2"
_NOTIFICATIONS = "SELECT channel, outcome, count(*) FROM notification_outcomes GROUP BY 1, 2"
# Cases whose assignment has not been read yet (the status came first) are in no team's figures.
_OPEN_CASES = (
    "SELECT team, status, count(*) FROM cases WHERE status <> 'closed' AND team IS NOT NULL GROUP BY 1, 2"
)
_OPEN_DEADLINES = "SELECT deadline, state, count(*) FROM deadline_states WHERE state <> 'met' GROUP BY 1, 2"
_LOADS = (
    "SELECT team, caseworker, sum(weight) FROM cases WHERE status <> 'closed' AND team IS NOT NULL"
    " GROUP BY 1, 2"
)
_WITHIN = ", ".join(f"count(*) FILTER (WHERE assignment_seconds <= {b})" for b in ASSIGNMENT_BUCKETS)
_ASSIGNMENT_TIMES = (
    f"SELECT count(*) AS n, coalesce(sum(assignment_seconds), 0) AS total, ARRAY[{_WITHIN}] AS within"
    " FROM assigned"
)
_FLAGS_RAISED = "SELECT team, count(*) FROM overload_flags GROUP BY 1"
_FLAGS_OPEN = "SELECT team, count(*) FROM overload_flags WHERE response_seconds IS NULL GROUP BY 1"
_FLAGS_ESCALATED = "SELECT team, count(*) FROM overload_flags WHERE escalated GROUP BY 1"
_RESPONSE_WITHIN = ", ".join(f"count(*) FILTER (WHERE response_seconds <= {b})" for b in RESPONSE_BUCKETS)
_RESPONSE_TIMES = (
    f"SELECT count(response_seconds) AS n, coalesce(sum(response_seconds), 0) AS total,"
    f" ARRAY[{_RESPONSE_WITHIN}] AS within FROM overload_flags"
)
_INCIDENTS = "SELECT type, team, count(*) FROM incidents GROUP BY 1, 2"
_BOOKED = "SELECT team, count(*) FROM consultations WHERE booked GROUP BY 1"
_CANCELLED = "SELECT team, count(*) FROM consultations WHERE cancelled GROUP BY 1"
_ON_DUTY = "SELECT to_team, next_at FROM handovers ORDER BY at DESC LIMIT 1"


class PostgresFiguresReader:
    """Reads the figures on a pooled connection."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def figures(self) -> Figures:
        """Every figure from one repeatable-read, read-only transaction."""
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            return Figures(
                received=await _counts(conn, _RECEIVED),
                assignments=await _counts(conn, _ASSIGNMENTS),
                breaches=await _counts(conn, _BREACHES),
                notifications=await _counts(conn, _NOTIFICATIONS),
                open_cases=await _counts(conn, _OPEN_CASES),
                assignment_times=await _assignment_times(conn),
                open_deadlines=await _counts(conn, _OPEN_DEADLINES),
                loads={(r[0], r[1]): float(r[2]) for r in await conn.fetch(_LOADS)},
                on_duty=await _on_duty(conn),
                workplace=await _workplace(conn),
            )


async def _counts(conn: Conn, sql: str) -> dict[Any, int]:
    """Label values (all columns but the last) -> the count (the last column)."""
    return {tuple(row)[:-1]: row[-1] for row in await conn.fetch(sql)}


async def _assignment_times(conn: Conn) -> AssignmentTimes:
    row = await conn.fetchrow(_ASSIGNMENT_TIMES)
    assert row is not None  # an aggregate without GROUP BY always gives one row
    return AssignmentTimes(row["n"], float(row["total"]), tuple(row["within"]))


async def _on_duty(conn: Conn) -> OnDuty | None:
    row = await conn.fetchrow(_ON_DUTY)
    return None if row is None else OnDuty(row["to_team"], row["next_at"])


async def _workplace(conn: Conn) -> Workplace:
    row = await conn.fetchrow(_RESPONSE_TIMES)
    assert row is not None  # an aggregate without GROUP BY always gives one row
    return Workplace(
        flags_raised={r[0]: r[1] for r in await conn.fetch(_FLAGS_RAISED)},
        flags_open={r[0]: r[1] for r in await conn.fetch(_FLAGS_OPEN)},
        flags_escalated={r[0]: r[1] for r in await conn.fetch(_FLAGS_ESCALATED)},
        response_times=ResponseTimes(row["n"], float(row["total"]), tuple(row["within"])),
        incidents=await _counts(conn, _INCIDENTS),
        consultations_booked={r[0]: r[1] for r in await conn.fetch(_BOOKED)},
        consultations_cancelled={r[0]: r[1] for r in await conn.fetch(_CANCELLED)},
    )
