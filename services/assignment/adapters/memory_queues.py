"""Work queues in memory (issue 19): the domain's own page over the fake `assignments`, which the
contract suite holds the Postgres adapter to."""

from __future__ import annotations

from services.assignment.adapters.memory_stores import AssignmentTables
from services.assignment.domain.queues import QueueEntry, QueueQuery


class InMemoryWorkQueues:
    """Work queues over the fake `assignments`: the domain's own page of every case."""

    def __init__(self, tables: AssignmentTables) -> None:
        self._tables = tables

    async def page(self, query: QueueQuery) -> list[QueueEntry]:
        """The page the query asks for."""
        return query.page([QueueEntry(s.case, s.categories) for s in self._tables.assignments.values()])
