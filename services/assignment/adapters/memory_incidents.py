"""Incidents and safety flags in memory, as `postgres_incidents.py` keeps them."""

from __future__ import annotations

import dataclasses
from datetime import date

from services.assignment.adapters.memory_stores import AssignmentTables
from services.assignment.domain.incidents import Incident
from services.assignment.domain.safety import SafetyFlagChange


class InMemoryIncidentStore:
    """Incidents by id."""

    def __init__(self, tables: AssignmentTables) -> None:
        self._tables = tables

    async def add(self, incident: Incident) -> None:
        """Store a new incident (an id stored already: the primary key's refusal)."""
        if incident.incident_id in self._tables.incidents:
            raise ValueError("incident id already stored")
        self._tables.incidents[incident.incident_id] = incident

    async def between(self, first: date, last: date) -> list[Incident]:
        """Incidents from `first` to `last`, by day, recording time and id."""
        found = [i for i in self._tables.incidents.values() if first <= i.occurred_on <= last]
        return sorted(found, key=lambda i: (i.occurred_on, i.recorded_at, str(i.incident_id)))


class InMemorySafetyFlagStore:
    """The flag on the fake `assignments` and the list of changes."""

    def __init__(self, tables: AssignmentTables) -> None:
        self._tables = tables

    async def change(self, change: SafetyFlagChange) -> bool:
        """Set the case's flag and keep the change; False without an assignment."""
        stored = self._tables.assignments.get(change.referral_id)
        if stored is None:
            return False
        case = dataclasses.replace(stored.case, safety_flag=change.safety_flag)
        self._tables.assignments[change.referral_id] = dataclasses.replace(stored, case=case)
        self._tables.safety_flag_changes.append(change)
        return True

    async def history(self, referral_id: str) -> list[SafetyFlagChange]:
        """The referral's changes, oldest first."""
        return [c for c in self._tables.safety_flag_changes if c.referral_id == referral_id]
