"""Overload flags in memory, as `postgres_overload.py` keeps them."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from services.assignment.adapters.memory_stores import AssignmentTables
from services.assignment.domain.overload import OverloadFlag, due_for_escalation


class InMemoryOverloadFlagStore:
    """Flags by id; the one-open-flag-per-person index as a check."""

    def __init__(self, tables: AssignmentTables) -> None:
        self._tables = tables

    async def add(self, flag: OverloadFlag) -> bool:
        """Store a new open flag; False when the person has an open one."""
        if await self.open_of(flag.staff_id) is not None:
            return False
        self._tables.overload_flags[flag.flag_id] = flag
        return True

    async def get(self, flag_id: str) -> OverloadFlag | None:
        """The flag, or None."""
        return self._tables.overload_flags.get(flag_id)

    async def get_for_update(self, flag_id: str) -> OverloadFlag | None:
        """The flag (a fake has nobody to lock out), or None."""
        return self._tables.overload_flags.get(flag_id)

    async def open_of(self, staff_id: str) -> OverloadFlag | None:
        """The person's open flag, if any."""
        flags = self._tables.overload_flags.values()
        return next((f for f in flags if f.staff_id == staff_id and f.open), None)

    async def answer(self, flag: OverloadFlag) -> bool:
        """Store the answer of an open flag; False when it was answered already."""
        stored = self._tables.overload_flags.get(flag.flag_id)
        if stored is None or not stored.open:
            return False
        self._tables.overload_flags[flag.flag_id] = dataclasses.replace(
            flag, escalated_at=stored.escalated_at
        )
        return True

    async def listed(
        self, team: str | None = None, staff_id: str | None = None, open_only: bool | None = None
    ) -> list[OverloadFlag]:
        """Flags matching every filter given, newest raised first."""
        found = [
            f
            for f in self._tables.overload_flags.values()
            if (team is None or f.team == team)
            and (staff_id is None or f.staff_id == staff_id)
            and (open_only is None or f.open == open_only)
        ]
        return sorted(found, key=lambda f: (f.raised_at, f.flag_id), reverse=True)

    async def in_effect(self, at: datetime) -> list[OverloadFlag]:
        """Open flags and reliefs still running at `at`."""
        return [f for f in self._tables.overload_flags.values() if f.open or f.relieved_at(at)]

    async def due_for_escalation(self, now: datetime) -> list[OverloadFlag]:
        """Open flags due to escalate and not escalated yet, oldest due first."""
        due = [f for f in self._tables.overload_flags.values() if due_for_escalation(f, now)]
        return sorted(due, key=lambda f: f.escalate_at)

    async def mark_escalated(self, flag_id: str, at: datetime) -> bool:
        """Mark an open flag escalated; False when it was already, or is answered."""
        stored = self._tables.overload_flags.get(flag_id)
        if stored is None or not stored.open or stored.escalated_at is not None:
            return False
        self._tables.overload_flags[flag_id] = dataclasses.replace(stored, escalated_at=at)
        return True
