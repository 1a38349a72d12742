"""In-memory fakes of the shared ports, for use-case tests and offline runs (no Postgres).

`InMemoryUnitOfWork` behaves as a transaction over plain Python data: entering it takes a deep
copy of the committed tables, the stores work on the copy, `commit` makes the copy the committed
state, and leaving without a commit drops it. A service's fake unit of work subclasses it with
its own tables (a dataclass extending `Tables`) and builds its stores over them in `_bind`.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Generic, Self, TypeVar

from shared.events import OutboxRow


@dataclass
class Tables:
    """The committed state of a fake database: the inbox and the outbox; services add theirs."""

    inbox: set[tuple[str, str]] = field(default_factory=set)
    outbox: list[OutboxRow] = field(default_factory=list)


TablesT = TypeVar("TablesT", bound=Tables)


class InMemoryInbox:
    """The inbox port over the fake tables."""

    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    async def first_deliveries(self, consumer: str, message_ids: Sequence[str]) -> set[str]:
        """Record the ids for `consumer`; return those seen for the first time (each once)."""
        fresh = {m for m in message_ids if (consumer, m) not in self._tables.inbox}
        self._tables.inbox.update((consumer, m) for m in fresh)
        return fresh


class InMemoryOutbox:
    """The outbox port over the fake tables; `rows` is what would be published, in order."""

    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    async def add(self, rows: Sequence[OutboxRow]) -> None:
        """Keep the events in order."""
        self._tables.outbox.extend(rows)


class InMemoryUnitOfWork(Generic[TablesT]):
    """A unit of work over `committed`; several instances over the same tables share its state."""

    def __init__(self, committed: TablesT) -> None:
        self.committed = committed
        self.commits = 0
        self._work: TablesT | None = None

    @property
    def tables(self) -> TablesT:
        """The working copy of the open unit of work."""
        if self._work is None:
            raise RuntimeError("the unit of work is not open: use `async with uow:`")
        return self._work

    @property
    def inbox(self) -> InMemoryInbox:
        """The inbox, in this unit of work."""
        return InMemoryInbox(self.tables)

    @property
    def outbox(self) -> InMemoryOutbox:
        """The outbox, in this unit of work."""
        return InMemoryOutbox(self.tables)

    def _bind(self, tables: TablesT) -> None:
        """Build the service's stores over the working copy (subclasses override)."""

    async def __aenter__(self) -> Self:
        self._work = copy.deepcopy(self.committed)
        self._bind(self._work)
        return self

    async def commit(self) -> None:
        """Make the working copy the committed state."""
        work = self.tables
        for f in dataclasses.fields(work):
            setattr(self.committed, f.name, copy.deepcopy(getattr(work, f.name)))
        self.commits += 1

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._work = None
