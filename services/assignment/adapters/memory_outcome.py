"""What the outcome report reads, in memory: the fake's assignments, absences, overload flags and
incidents, as the Postgres adapter reads them."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.assignment.adapters.memory_stores import AssignmentTables
from services.assignment.domain.outcome import (
    AbsenceRecord,
    CaseRecord,
    FlagRecord,
    IncidentRecord,
    OutcomeData,
)


class InMemoryOutcomeRecords:
    """Reads of the committed tables (a copy taken when the unit of work was entered)."""

    def __init__(self, tables: AssignmentTables) -> None:
        self._tables = tables

    async def read(self, start: datetime, end: datetime) -> OutcomeData:
        """As the Postgres adapter: cases received before `end` and not closed before `start`,
        ordered by receipt; absences overlapping the bounds' days, in the order recorded."""
        first, last = start.date(), (end - timedelta(microseconds=1)).date()
        rows = sorted(
            self._tables.assignments.values(), key=lambda a: (a.case.received_at, a.case.referral_id)
        )
        cases = tuple(
            CaseRecord(
                c.referral_id,
                c.team,
                c.caseworker,
                c.received_at,
                c.protection_due,
                c.protection_assessed_at,
                c.preliminary_due,
                c.decided_at,
                c.investigation_opened_on,
                c.closed_at,
            )
            for c in (a.case for a in rows)
            if c.received_at < end and (c.closed_at is None or c.closed_at >= start)
        )
        absences = tuple(
            AbsenceRecord(a.staff_id, a.starts_on, a.ends_on, a.kind)
            for _, a, _ in sorted(self._tables.absences, key=lambda row: row[0])
            if a.ends_on >= first and a.starts_on <= last
        )
        flags = tuple(
            FlagRecord(f.raised_at, f.team)
            for f in sorted(self._tables.overload_flags.values(), key=lambda f: f.raised_at)
            if start <= f.raised_at < end
        )
        incidents = tuple(
            IncidentRecord(i.occurred_on, i.type, i.team)
            for i in sorted(self._tables.incidents.values(), key=lambda i: (i.occurred_on, i.recorded_at))
            if first <= i.occurred_on <= last
        )
        return OutcomeData(cases, absences, flags, incidents)
