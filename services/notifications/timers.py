"""The background loops: the delivery worker and the escalation scan. Only the loop, the wait and
the wake-up, and riding out database outages; the work is the use cases'."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from pydantic import BaseModel, Field

from shared.db import TRANSIENT_DB_ERRORS

log = logging.getLogger(__name__)
# Postgres NOTIFY channel on which a new delivery wakes the worker (the migrations' schema name).
WAKE_UP_CHANNEL = "deliveries_notifications"
# After a round that sent something, or when work is due that a round could not claim yet, the
# worker looks again within this long (Teams slots free up a second apart).
RECHECK_S = 1.0


class WorkerSettings(BaseModel):
    """Delivery worker tuning (`WORKER__…`)."""

    # New deliveries wake the worker (NOTIFY at commit), and a quiet round waits exactly until the
    # next retry, Teams slot or lease end is due; this poll is only the safety net for a lost
    # notification. At most this long between rounds, whatever happens.
    poll_interval_s: float = Field(default=30.0, gt=0)
    batch_size: int = Field(default=20, ge=1)
    # After a wake-up, wait this long so deliveries created meanwhile go in the same round.
    linger_s: float = Field(default=0.01, ge=0, le=1)
    # Longer than any send can take: a claim older than this means its sender is gone.
    lease_s: float = Field(default=60.0, gt=0)


class DeliveryWorker:
    """Runs until cancelled: reap now and then, send what is due, wait for a wake-up or the poll."""

    def __init__(
        self,
        send_due: Callable[[], Awaitable[int]],
        reap_abandoned: Callable[[], Awaitable[int]],
        settings: WorkerSettings,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        seconds_until_due: Callable[[], Awaitable[float | None]],
    ) -> None:
        self._send_due = send_due
        self._reap_abandoned = reap_abandoned
        self._seconds_until_due = seconds_until_due
        self._settings = settings
        self._connect = connect
        self._wake = asyncio.Event()
        self._next_reap = 0.0

    async def run(self) -> None:
        """Work forever. LISTEN wakes it early; polling is the net (notifications can be lost)."""
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
                await listener.add_listener(WAKE_UP_CHANNEL, lambda *_: self._wake.set())
                # A lost connection loses notifications: wake to listen again, not at the poll.
                listener.add_termination_listener(lambda *_: self._wake.set())
            await self._reap_now_and_then()
            claimed = await self._send_due()
            wait = await self._wait_s(claimed)
        except TRANSIENT_DB_ERRORS as exc:
            log.warning("delivery worker waiting for the database", extra={"error": type(exc).__name__})
            listener = None
            claimed, wait = 0, RECHECK_S
        if claimed < self._settings.batch_size:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            # Deliveries created meanwhile share the next round (as the outbox relay's linger).
            await asyncio.sleep(self._settings.linger_s)
            self._wake.clear()
        return listener

    async def _wait_s(self, claimed: int) -> float:
        """How long to wait for a wake-up: a second after sending, else until the next due time."""
        if claimed:
            return min(RECHECK_S, self._settings.poll_interval_s)
        until = await self._seconds_until_due()
        if until is None:
            return self._settings.poll_interval_s
        return min(self._settings.poll_interval_s, max(RECHECK_S, until))

    async def _reap_now_and_then(self) -> None:
        """Reap abandoned claims at most every quarter lease (up to 5 s), not on every round.

        A claim can only expire a lease after it was made, so checking more often finds nothing;
        under load the worker runs many rounds a second and this saved a transaction per round.
        """
        now = asyncio.get_running_loop().time()
        if now < self._next_reap:
            return
        await self._reap_abandoned()
        self._next_reap = now + min(self._settings.lease_s / 4, 5.0)


async def run_escalations(escalate_due: Callable[[], Awaitable[int]], interval_s: float) -> None:
    """Forever: escalate what is due, then wait; a database outage only delays it."""
    while True:
        try:
            await escalate_due()
        except TRANSIENT_DB_ERRORS as exc:
            log.warning("escalation scheduler waiting for the database", extra={"error": type(exc).__name__})
        await asyncio.sleep(interval_s)
