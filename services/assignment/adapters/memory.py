"""Assignment's unit of work in memory, for use-case tests and offline runs (no Postgres).

Entering takes a copy of the committed `AssignmentTables` (shared.memory), so a unit of work
left without a commit leaves nothing behind; its stores (`memory_stores.py`) see the time the
clock told on entering as "now", as Postgres's `now()` is the transaction's start.
"""

from __future__ import annotations

from typing import Self

from services.assignment.adapters.memory_consultations import InMemoryConsultationStore
from services.assignment.adapters.memory_feeds import InMemoryCalendarFeedStore
from services.assignment.adapters.memory_incidents import InMemoryIncidentStore, InMemorySafetyFlagStore
from services.assignment.adapters.memory_outcome import InMemoryOutcomeRecords
from services.assignment.adapters.memory_overload import InMemoryOverloadFlagStore
from services.assignment.adapters.memory_queues import InMemoryWorkQueues
from services.assignment.adapters.memory_stores import (
    AssignmentTables,
    InMemoryAbsenceStore,
    InMemoryAssignmentStore,
    InMemoryCaseStore,
    InMemoryOverrideStore,
    InMemoryScheduledEventStore,
)
from shared.clock import Clock
from shared.memory import InMemoryUnitOfWork


class InMemoryAssignmentUnitOfWork(InMemoryUnitOfWork[AssignmentTables]):
    """A unit of work over `committed`; `locks_taken` records every `lock_teams` call."""

    def __init__(self, committed: AssignmentTables, clock: Clock) -> None:
        super().__init__(committed)
        self._clock = clock
        self._started_at = clock.now()
        self.locks_taken: list[frozenset[str]] = []

    async def __aenter__(self) -> Self:
        self._started_at = self._clock.now()
        return await super().__aenter__()

    @property
    def assignments(self) -> InMemoryAssignmentStore:
        """Assignments and loads, in this unit of work."""
        return InMemoryAssignmentStore(self.tables, self._started_at, self.locks_taken)

    @property
    def cases(self) -> InMemoryCaseStore:
        """Cases, in this unit of work."""
        return InMemoryCaseStore(self.tables)

    @property
    def overrides(self) -> InMemoryOverrideStore:
        """Overrides of the rotation, in this unit of work."""
        return InMemoryOverrideStore(self.tables)

    @property
    def absences(self) -> InMemoryAbsenceStore:
        """Absences, in this unit of work."""
        return InMemoryAbsenceStore(self.tables)

    @property
    def scheduled(self) -> InMemoryScheduledEventStore:
        """Deadline alerts and handovers, in this unit of work."""
        return InMemoryScheduledEventStore(self.tables)

    @property
    def queues(self) -> InMemoryWorkQueues:
        """Work queues, in this unit of work."""
        return InMemoryWorkQueues(self.tables)

    @property
    def calendar_feeds(self) -> InMemoryCalendarFeedStore:
        """Calendar subscription links, in this unit of work."""
        return InMemoryCalendarFeedStore(self.tables)

    @property
    def incidents(self) -> InMemoryIncidentStore:
        """Threats and violence against staff, in this unit of work."""
        return InMemoryIncidentStore(self.tables)

    @property
    def safety_flags(self) -> InMemorySafetyFlagStore:
        """Referrals' safety flags, in this unit of work."""
        return InMemorySafetyFlagStore(self.tables)

    @property
    def consultations(self) -> InMemoryConsultationStore:
        """Consultations, in this unit of work."""
        return InMemoryConsultationStore(self.tables)

    @property
    def overload_flags(self) -> InMemoryOverloadFlagStore:
        """Overload flags, in this unit of work."""
        return InMemoryOverloadFlagStore(self.tables)

    @property
    def outcome(self) -> InMemoryOutcomeRecords:
        """What the outcome report reads, in this unit of work."""
        return InMemoryOutcomeRecords(self.tables)
