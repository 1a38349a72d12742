"""The delivery worker: claims due deliveries, sends them, and reaps abandoned claims."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from pydantic import BaseModel, Field

from services.notifications import postgres
from services.notifications.handlers import NotificationContext, deliver, mark_abandoned_unknown
from services.notifications.ports import EmailSender
from shared.db import TRANSIENT_DB_ERRORS

log = logging.getLogger(__name__)


class WorkerSettings(BaseModel):
    """Delivery worker tuning (`WORKER__…`)."""

    poll_interval_s: float = Field(default=1.0, gt=0)
    batch_size: int = Field(default=20, ge=1)
    # Longer than any send can take: a claim older than this means its sender is gone.
    lease_s: float = Field(default=60.0, gt=0)


class DeliveryWorker:
    """Runs until cancelled; survives database outages by waiting and trying again."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        email: EmailSender,
        ctx: NotificationContext,
        settings: WorkerSettings,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
    ) -> None:
        self._connect = connect
        self._pool = pool
        self._email = email
        self._ctx = ctx
        self._settings = settings
        self._wake = asyncio.Event()

    async def run(self) -> None:
        """Work forever: reap, claim, send, wait. LISTEN wakes it early; polling is the net."""
        listener: asyncpg.Connection | None = None
        try:
            while True:
                listener = await self._round(listener)
        finally:
            if listener is not None and not listener.is_closed():
                listener.terminate()

    async def _round(self, listener: asyncpg.Connection | None) -> asyncpg.Connection | None:
        try:
            if listener is None or listener.is_closed():
                listener = await self._connect()
                await listener.add_listener("deliveries_notifications", lambda *_: self._wake.set())
            await mark_abandoned_unknown(self._pool)
            claimed = await self.work_once()
        except TRANSIENT_DB_ERRORS as exc:
            log.warning("delivery worker waiting for the database", extra={"error": type(exc).__name__})
            listener = None
            claimed = 0
        if claimed < self._settings.batch_size:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.poll_interval_s)
            self._wake.clear()
        return listener

    async def work_once(self) -> int:
        """Claim and send one batch; return how many were claimed."""
        rows = await postgres.claim_due(self._pool, self._settings.batch_size, self._settings.lease_s)
        for row in rows:
            await deliver(self._pool, row, self._email, self._ctx)
        return len(rows)
