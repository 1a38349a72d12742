"""Consultations in memory, as `postgres_consultations.py` keeps them: one live consultation per
team and start, as the partial unique index of migration 009 holds it."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from services.assignment.adapters.memory_stores import AssignmentTables
from services.assignment.domain.consultations import Consultation


class InMemoryConsultationStore:
    """Consultations by id."""

    def __init__(self, tables: AssignmentTables) -> None:
        self._tables = tables

    async def add(self, consultation: Consultation) -> bool:
        """Store it; False when the team has a live one at that start."""
        clash = any(
            c.team == consultation.team and c.starts_at == consultation.starts_at and c.cancelled_at is None
            for c in self._tables.consultations.values()
        )
        if clash:
            return False
        self._tables.consultations[consultation.consultation_id] = consultation
        return True

    async def get(self, consultation_id: str) -> Consultation | None:
        """The consultation or None."""
        return self._tables.consultations.get(consultation_id)

    async def get_for_update(self, consultation_id: str) -> Consultation | None:
        """The consultation or None (a fake unit of work is alone anyway)."""
        return self._tables.consultations.get(consultation_id)

    async def save_cancellation(self, consultation: Consultation) -> None:
        """Store the cancellation's fields."""
        stored = self._tables.consultations[consultation.consultation_id]
        self._tables.consultations[consultation.consultation_id] = dataclasses.replace(
            stored,
            cancelled_at=consultation.cancelled_at,
            cancelled_by=consultation.cancelled_by,
            sequence=consultation.sequence,
        )

    async def live_starts(self, team: str, start: datetime, end: datetime) -> set[datetime]:
        """Starts in [start, end) of the team's live consultations."""
        return {
            c.starts_at
            for c in self._tables.consultations.values()
            if c.team == team and c.cancelled_at is None and start <= c.starts_at < end
        }

    async def between(self, start: datetime, end: datetime) -> list[Consultation]:
        """Consultations starting in [start, end), by start then team."""
        found = [c for c in self._tables.consultations.values() if start <= c.starts_at < end]
        return sorted(found, key=lambda c: (c.starts_at, c.team))

    async def of_requester(self, requester: str) -> list[Consultation]:
        """The requester's consultations by start."""
        found = [c for c in self._tables.consultations.values() if c.requester == requester]
        return sorted(found, key=lambda c: (c.starts_at, c.team))

    async def reminders_due(self, now: datetime, until: datetime) -> list[Consultation]:
        """Live, never reminded, starting in (now, until]."""
        found = [
            c
            for c in self._tables.consultations.values()
            if c.cancelled_at is None and c.reminded_at is None and now < c.starts_at <= until
        ]
        return sorted(found, key=lambda c: (c.starts_at, c.team))

    async def mark_reminded(self, consultation_id: str, at: datetime) -> bool:
        """Record the reminder once."""
        stored = self._tables.consultations.get(consultation_id)
        if stored is None or stored.reminded_at is not None:
            return False
        self._tables.consultations[consultation_id] = dataclasses.replace(stored, reminded_at=at)
        return True
