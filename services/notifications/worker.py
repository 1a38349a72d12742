"""The delivery worker: claims due deliveries, sends them, and reaps abandoned claims."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

import asyncpg
from pydantic import BaseModel, Field

from services.notifications import postgres
from services.notifications.delivery import deliver, deliver_many, reap_abandoned
from services.notifications.ports import Sender
from services.notifications.routing import NotificationContext
from shared.db import TRANSIENT_DB_ERRORS

log = logging.getLogger(__name__)


class WorkerSettings(BaseModel):
    """Delivery worker tuning (`WORKER__…`)."""

    poll_interval_s: float = Field(default=1.0, gt=0)
    batch_size: int = Field(default=20, ge=1)
    # After a wake-up, wait this long so deliveries created meanwhile go in the same round.
    linger_s: float = Field(default=0.01, ge=0, le=1)
    # Longer than any send can take: a claim older than this means its sender is gone.
    lease_s: float = Field(default=60.0, gt=0)


class DeliveryWorker:
    """Runs until cancelled; survives database outages by waiting and trying again."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        senders: Mapping[str, Sender],
        ctx: NotificationContext,
        settings: WorkerSettings,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
    ) -> None:
        self._connect = connect
        self._pool = pool
        self._senders = senders
        self._ctx = ctx
        self._settings = settings
        self._wake = asyncio.Event()
        self._next_reap = 0.0

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
            await self._reap_now_and_then()
            claimed = await self.work_once()
        except TRANSIENT_DB_ERRORS as exc:
            log.warning("delivery worker waiting for the database", extra={"error": type(exc).__name__})
            listener = None
            claimed = 0
        if claimed < self._settings.batch_size:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.poll_interval_s)
            # Deliveries created meanwhile share the next round (as the outbox relay's linger).
            await asyncio.sleep(self._settings.linger_s)
            self._wake.clear()
        return listener

    async def _reap_now_and_then(self) -> None:
        """Reap abandoned claims at most every quarter lease (up to 5 s), not on every round.

        A claim can only expire a lease after it was made, so checking more often finds nothing;
        under load the worker runs many rounds a second and this saved a transaction per round.
        """
        now = asyncio.get_running_loop().time()
        if now < self._next_reap:
            return
        await reap_abandoned(self._pool, self._ctx)
        self._next_reap = now + min(self._settings.lease_s / 4, 5.0)

    async def work_once(self) -> int:
        """Claim and send one batch of email, one message per free webhook, and one digest."""
        now, s = self._ctx.clock.now(), self._settings
        gap_s = 1.0 / self._ctx.config.notifications.teams_rate_per_s
        emails = await postgres.claim_email(self._pool, now, s.batch_size, s.lease_s)
        teams_due, digest_due = await postgres.due_teams_and_digest(self._pool, now)
        teams = await postgres.claim_teams(self._pool, now, gap_s, s.lease_s) if teams_due else []
        await deliver_many(self._pool, [[row] for row in [*emails, *teams]], self._senders, self._ctx)
        digest = await postgres.claim_digest(self._pool, now, s.lease_s) if digest_due else []
        if digest:
            await deliver(self._pool, digest, self._senders, self._ctx)
        return len(emails) + len(teams) + len(digest)
