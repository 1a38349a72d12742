"""What the outcome report reads, from Postgres: assignments, absences, `overload_flags`
(migration 008) and `incidents` (migration 010)."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.assignment.domain.outcome import (
    AbsenceRecord,
    CaseRecord,
    FlagRecord,
    IncidentRecord,
    OutcomeData,
)
from shared.db import Conn

_CASES = """
SELECT referral_id, team, caseworker, received_at, protection_due, protection_assessed_at,
       preliminary_due, decided_at, investigation_opened_on, closed_at
FROM assignments
WHERE received_at < $2 AND (closed_at IS NULL OR closed_at >= $1)
ORDER BY received_at, referral_id
"""
_ABSENCES = """
SELECT staff_id, starts_on, ends_on, kind FROM absences
WHERE ends_on >= $1 AND starts_on <= $2 ORDER BY id
"""
_FLAGS = (
    "SELECT raised_at, team FROM overload_flags WHERE raised_at >= $1 AND raised_at < $2 ORDER BY raised_at"
)
_INCIDENTS = """
SELECT occurred_on, type, team FROM incidents
WHERE occurred_on >= $1 AND occurred_on <= $2 ORDER BY occurred_on, recorded_at
"""


class PostgresOutcomeRecords:
    """Reads on one connection, in its transaction."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def read(self, start: datetime, end: datetime) -> OutcomeData:
        """Everything the report needs for [start, end); days are those of the bounds' own zone."""
        first, last = start.date(), (end - timedelta(microseconds=1)).date()
        cases = [CaseRecord(*r.values()) for r in await self._conn.fetch(_CASES, start, end)]
        absences = [AbsenceRecord(*r.values()) for r in await self._conn.fetch(_ABSENCES, first, last)]
        flags = [FlagRecord(*r.values()) for r in await self._conn.fetch(_FLAGS, start, end)]
        incidents = [IncidentRecord(*r.values()) for r in await self._conn.fetch(_INCIDENTS, first, last)]
        return OutcomeData(tuple(cases), tuple(absences), tuple(flags), tuple(incidents))
