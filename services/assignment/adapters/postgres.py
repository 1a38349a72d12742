"""Assignment's unit of work in Postgres: every store on the one connection and transaction.

The stores live in `postgres_assignments.py` (the batch's reads, locks, loads and insert),
`postgres_cases.py` and `postgres_schedules.py` (overrides, absences, alerts, handovers).
"""

from __future__ import annotations

from services.assignment.adapters.postgres_assignments import PostgresAssignmentStore
from services.assignment.adapters.postgres_cases import PostgresCaseStore
from services.assignment.adapters.postgres_consultations import PostgresConsultationStore
from services.assignment.adapters.postgres_feeds import PostgresCalendarFeedStore
from services.assignment.adapters.postgres_incidents import PostgresIncidentStore, PostgresSafetyFlagStore
from services.assignment.adapters.postgres_outcome import PostgresOutcomeRecords
from services.assignment.adapters.postgres_overload import PostgresOverloadFlagStore
from services.assignment.adapters.postgres_queues import PostgresWorkQueues
from services.assignment.adapters.postgres_schedules import (
    PostgresAbsenceStore,
    PostgresOverrideStore,
    PostgresScheduledEventStore,
)
from shared.postgres import PostgresUnitOfWork


class PostgresAssignmentUnitOfWork(PostgresUnitOfWork):
    """One pooled connection and transaction per `async with`, with assignment's stores on it."""

    @property
    def assignments(self) -> PostgresAssignmentStore:
        """Assignments and loads, in this transaction."""
        return PostgresAssignmentStore(self.conn)

    @property
    def cases(self) -> PostgresCaseStore:
        """Cases, in this transaction."""
        return PostgresCaseStore(self.conn)

    @property
    def overrides(self) -> PostgresOverrideStore:
        """Overrides of the rotation, in this transaction."""
        return PostgresOverrideStore(self.conn)

    @property
    def absences(self) -> PostgresAbsenceStore:
        """Absences, in this transaction."""
        return PostgresAbsenceStore(self.conn)

    @property
    def scheduled(self) -> PostgresScheduledEventStore:
        """Deadline alerts and handovers, in this transaction."""
        return PostgresScheduledEventStore(self.conn)

    @property
    def queues(self) -> PostgresWorkQueues:
        """Work queues, in this transaction."""
        return PostgresWorkQueues(self.conn)

    @property
    def calendar_feeds(self) -> PostgresCalendarFeedStore:
        """Calendar subscription links, in this transaction."""
        return PostgresCalendarFeedStore(self.conn)

    @property
    def incidents(self) -> PostgresIncidentStore:
        """Threats and violence against staff, in this unit of work."""
        return PostgresIncidentStore(self.conn)

    @property
    def safety_flags(self) -> PostgresSafetyFlagStore:
        """Referrals' safety flags, in this unit of work."""
        return PostgresSafetyFlagStore(self.conn)

    @property
    def consultations(self) -> PostgresConsultationStore:
        """Consultations, in this transaction."""
        return PostgresConsultationStore(self.conn)

    @property
    def overload_flags(self) -> PostgresOverloadFlagStore:
        """Overload flags, in this unit of work."""
        return PostgresOverloadFlagStore(self.conn)

    @property
    def outcome(self) -> PostgresOutcomeRecords:
        """What the outcome report reads, in this transaction."""
        return PostgresOutcomeRecords(self.conn)
