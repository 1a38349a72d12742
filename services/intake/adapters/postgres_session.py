"""The connection of an intake unit of work, whose transaction begins when a statement needs one.

Storing a submission is one statement, atomic by itself (Postgres runs a lone statement in a
transaction of its own): when it is the first thing a unit of work does, as on every portal
request, it goes alone, without BEGIN and COMMIT, one round trip instead of three (bench/). Such a
unit of work then takes no other statement, since none could join it; after a load, the
submission joins the transaction like any other write.
"""

from __future__ import annotations

from asyncpg.transaction import Transaction

from shared.db import Conn

_ALONE = "this unit of work stored a submission alone (already durable): it takes no other statement"


class Session:
    """The connection of one intake unit of work, and whether its transaction began or one
    statement went alone."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.transaction: Transaction | None = None
        self.alone = False

    async def in_transaction(self) -> Conn:
        """The connection, with the unit of work's transaction begun."""
        if self.alone:
            raise RuntimeError(_ALONE)
        if self.transaction is None:
            transaction = self.conn.transaction()
            await transaction.start()
            self.transaction = transaction
        return self.conn

    def for_one_statement(self) -> Conn:
        """The connection for one atomic statement: inside the transaction if it began, else alone."""
        if self.alone:
            raise RuntimeError(_ALONE)
        if self.transaction is None:
            self.alone = True
        return self.conn
