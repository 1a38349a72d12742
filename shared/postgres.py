"""The Postgres unit of work: one pooled connection and one transaction per `async with`.

A service's unit of work subclasses it and builds its stores on the connection in `_bind`, so
every store, the inbox and the outbox of one unit of work write in the same transaction.
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Self

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from shared.db import TRANSIENT_DB_ERRORS, Conn
from shared.inbox import PostgresInbox
from shared.outbox import PostgresOutbox

_ROLLBACK_ERRORS: tuple[type[BaseException], ...] = (asyncpg.PostgresError, *TRANSIENT_DB_ERRORS)


class PostgresUnitOfWork:
    """Begins a transaction on a pooled connection; commits only when told, else rolls back."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._conn: PoolConnectionProxy | None = None
        self._tx: asyncpg.transaction.Transaction | None = None
        self._committed = False

    @property
    def inbox(self) -> PostgresInbox:
        """The inbox, in this transaction."""
        return PostgresInbox(self.conn)

    @property
    def outbox(self) -> PostgresOutbox:
        """The outbox, in this transaction."""
        return PostgresOutbox(self.conn)

    @property
    def conn(self) -> Conn:
        """The connection of the open unit of work (for the stores built on it)."""
        if self._conn is None:
            raise RuntimeError("the unit of work is not open: use `async with uow:`")
        return self._conn

    def _bind(self, conn: Conn) -> None:
        """Build the service's stores on the connection (subclasses override)."""

    async def __aenter__(self) -> Self:
        conn = await self._pool.acquire()
        try:
            tx = conn.transaction()
            await tx.start()
        except BaseException:
            await self._pool.release(conn)
            raise
        self._conn, self._tx, self._committed = conn, tx, False
        self._bind(conn)
        return self

    async def commit(self) -> None:
        """Make everything done in this unit of work durable."""
        if self._tx is None:
            raise RuntimeError("the unit of work is not open: use `async with uow:`")
        await self._tx.commit()
        self._committed = True

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, tx = self._conn, self._tx
        self._conn = self._tx = None
        if conn is None or tx is None:
            return
        try:
            if not self._committed:
                # A dead connection cannot roll back, and need not: its transaction is gone. The
                # exception that brought us here (if any) is the one worth raising.
                with contextlib.suppress(*_ROLLBACK_ERRORS):
                    await tx.rollback()
        finally:
            await self._pool.release(conn)
