"""Intake's Postgres unit of work: the stores on one pooled connection, the transaction begun
when a statement first needs one (`postgres_session.py`: why)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from types import TracebackType
from typing import Self

import asyncpg

from services.intake.adapters.postgres_access_log import PostgresAccessLogStore
from services.intake.adapters.postgres_dossier import PostgresAccessProjectionStore, PostgresDossierStore
from services.intake.adapters.postgres_feedback import PostgresFeedbackStore
from services.intake.adapters.postgres_oep import PostgresOepInstanceStore
from services.intake.adapters.postgres_retention import PostgresDataKeyStore, PostgresRetentionStore
from services.intake.adapters.postgres_reviews import PostgresReviewStore
from services.intake.adapters.postgres_session import Session
from services.intake.adapters.postgres_statistics import PostgresStatisticsStore
from services.intake.adapters.postgres_submissions import PostgresSubmissionStore
from shared.db import TRANSIENT_DB_ERRORS
from shared.events import OutboxRow
from shared.inbox import PostgresInbox
from shared.outbox import PostgresOutbox
from shared.postgres import PostgresUnitOfWork

_ROLLBACK_ERRORS: tuple[type[BaseException], ...] = (asyncpg.PostgresError, *TRANSIENT_DB_ERRORS)


class PostgresIntakeUnitOfWork(PostgresUnitOfWork):
    """Intake's unit of work on a pooled connection; the transaction begins when first needed."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        """The open unit of work's connection and transaction state."""
        if self._session is None:
            raise RuntimeError("the unit of work is not open: use `async with uow:`")
        return self._session

    @property
    def submissions(self) -> PostgresSubmissionStore:
        """Submissions, in this unit of work."""
        return PostgresSubmissionStore(self.session)

    @property
    def oep_instances(self) -> PostgresOepInstanceStore:
        """The Open ePlatform poller's state, in this unit of work."""
        return PostgresOepInstanceStore(self.session)

    @property
    def dossiers(self) -> PostgresDossierStore:
        """Referral facts, registrations and grants, in this unit of work."""
        return PostgresDossierStore(self.session)

    @property
    def access_projection(self) -> PostgresAccessProjectionStore:
        """The access projection, in this unit of work."""
        return PostgresAccessProjectionStore(self.session)

    @property
    def access_log(self) -> PostgresAccessLogStore:
        """The access log, in this unit of work."""
        return PostgresAccessLogStore(self.session)

    @property
    def reviews(self) -> PostgresReviewStore:
        """The months whose access-log review was sent, in this unit of work."""
        return PostgresReviewStore(self.session)

    @property
    def feedback(self) -> PostgresFeedbackStore:
        """Feedback to mandatory reporters, in this unit of work."""
        return PostgresFeedbackStore(self.session)

    @property
    def statistics(self) -> PostgresStatisticsStore:
        """The statistics records, in this unit of work."""
        return PostgresStatisticsStore(self.session)

    @property
    def data_keys(self) -> PostgresDataKeyStore:
        """Each submission's data key, in this unit of work."""
        return PostgresDataKeyStore(self.session)

    @property
    def retention(self) -> PostgresRetentionStore:
        """Legal holds, erasure and the retention log, in this unit of work."""
        return PostgresRetentionStore(self.session)

    @property
    def inbox(self) -> _Inbox:
        """The inbox (the access projection's events), in this unit of work's transaction."""
        return _Inbox(self.session)

    @property
    def outbox(self) -> _Outbox:
        """The outbox, in this unit of work's transaction (a submission writes its events itself)."""
        return _Outbox(self.session)

    async def __aenter__(self) -> Self:
        conn = await self._pool.acquire()
        self._conn, self._session, self._committed = conn, Session(conn), False
        return self

    async def commit(self) -> None:
        """Make everything done in this unit of work durable (a lone statement already is)."""
        transaction = self.session.transaction
        if transaction is not None:
            await transaction.commit()
        self._committed = True

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, session = self._conn, self._session
        self._conn = self._session = None
        if conn is None or session is None:
            return
        try:
            if session.transaction is not None and not self._committed:
                # A dead connection cannot roll back, and need not: its transaction is gone.
                with contextlib.suppress(*_ROLLBACK_ERRORS):
                    await session.transaction.rollback()
        finally:
            await self._pool.release(conn)


class _Inbox(PostgresInbox):
    """The shared inbox, begun late like every other statement of the unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def first_deliveries(self, consumer: str, message_ids: Sequence[str]) -> set[str]:
        """Record the ids in the transaction; return those seen for the first time."""
        return await PostgresInbox(await self._session.in_transaction()).first_deliveries(
            consumer, message_ids
        )


class _Outbox(PostgresOutbox):
    """The shared outbox, begun late like every other statement of the unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def add(self, rows: Sequence[OutboxRow]) -> None:
        """Store the events in the transaction; the relay wakes on commit."""
        if rows:
            await PostgresOutbox(await self._session.in_transaction()).add(rows)
