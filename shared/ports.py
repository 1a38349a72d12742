"""The ports every service's use cases share: a unit of work, its inbox and its outbox.

Protocols only: the Postgres adapters are in `shared.db`, `shared.inbox` and `shared.outbox`, the
in-memory fakes in `shared.memory`. A service's own unit of work extends `UnitOfWork` with its
stores (DESIGN.md §6).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Protocol, Self

from shared.events import OutboxRow


class UnitOfWork(Protocol):
    """One transaction: what a use case loads and saves is committed together or not at all.

    `async with uow:` begins it; `await uow.commit()` makes it durable; leaving the block without
    a commit (or with an exception) rolls everything back.
    """

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def commit(self) -> None: ...


class Inbox(Protocol):
    """Which messages a consumer has handled, recorded in the same transaction as their effects."""

    async def first_deliveries(self, consumer: str, message_ids: Sequence[str]) -> set[str]:
        """Record the ids for `consumer`; return those it sees for the first time."""
        ...


class Outbox(Protocol):
    """Events to publish once the transaction commits (the relay publishes them in order)."""

    async def add(self, rows: Sequence[OutboxRow]) -> None:
        """Store events (`events.outbox_row`) for publication, in this transaction."""
        ...


class ConsumingUnitOfWork(UnitOfWork, Protocol):
    """A unit of work a Kafka consumer can handle a batch in: inbox and outbox included."""

    @property
    def inbox(self) -> Inbox: ...

    @property
    def outbox(self) -> Outbox: ...
