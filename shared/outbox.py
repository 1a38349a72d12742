"""Transactional outbox: events are written with the state change and published by a relay.

A service never publishes inside a request or handler (DESIGN.md §2). `PostgresOutbox` stores rows
in the unit of work's transaction; `OutboxRelay` publishes committed rows in id order and marks them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg

from shared import metrics
from shared.db import TRANSIENT_DB_ERRORS, Conn, lock_id
from shared.events import OutboxRow
from shared.settings import OutboxSettings

log = logging.getLogger(__name__)

BACKLOG_UPDATE_S = 1.0
# The row and the wake-up in one round trip; NOTIFY is delivered at commit, so the relay never
# wakes for a row it cannot yet see.
INSERT_SQL = (
    "WITH added AS (INSERT INTO outbox (event_id, topic, key, payload) VALUES ($1, $2, $3, $4))"
    " SELECT pg_notify('outbox_' || current_schema(), '')"
)

# One relay per schema at a time keeps per-key order across instances: the rows come only
# with the schema's advisory lock (an InitPlan, taken once), in the same round trip.
SELECT_BATCH_SQL = (
    "WITH relay AS (SELECT pg_try_advisory_xact_lock($2) AS mine)"
    " SELECT id, topic, key, payload FROM outbox WHERE (SELECT mine FROM relay) AND published_at IS NULL"
    " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"
)


def insert_if(statement: str, first: int) -> str:
    """One statement: `statement` (data-modifying, with RETURNING), then, only if it returned a
    row, the outbox row and the relay's wake-up. The outbox columns (`outbox_row`) are the
    parameters $first to $first+3, after the statement's own."""
    cols = ", ".join(f"${first + i}" for i in range(4))
    return (
        f"WITH done AS ({statement}),"
        f" added AS (INSERT INTO outbox (event_id, topic, key, payload) SELECT {cols} FROM done LIMIT 1)"
        " SELECT pg_notify('outbox_' || current_schema(), '') FROM done LIMIT 1"
    )


class RecordSender(Protocol):
    """What the relay needs from a Kafka producer: enqueue a record, get a delivery future."""

    async def send(self, topic: str, value: bytes, key: bytes) -> Awaitable[Any]: ...


class PostgresOutbox:
    """The outbox port on one connection, in its transaction."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add(self, rows: Sequence[OutboxRow]) -> None:
        """Store events for publication, in one round trip; the relay wakes on commit."""
        if rows:
            await self._conn.executemany(INSERT_SQL, rows)


class OutboxRelay:
    """Publishes outbox rows in order, one relay at a time per schema, forever, with backoff."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        sender: RecordSender,
        settings: OutboxSettings,
        *,
        schema: str,
        service: str,
        topic_name: Callable[[str], str],
        connect: Callable[[], Awaitable[asyncpg.Connection]],
    ) -> None:
        self._pool = pool
        self._connect = connect
        self._sender = sender
        self._settings = settings
        self._schema = schema
        self._service = service
        self._topic_name = topic_name
        self._wake = asyncio.Event()
        self._lock = lock_id(f"outbox:{schema}")
        self._next_backlog_update = 0.0

    async def run(self) -> None:
        """Relay until cancelled; LISTEN wakes it early, polling covers lost notifications."""
        failures = 0
        listener: asyncpg.Connection | None = None
        while True:
            try:
                if listener is None or listener.is_closed():
                    listener = await self._listen()
                published = await self.publish_once()
                failures = 0
                if published < self._settings.batch_size:
                    await self._update_backlog_now_and_then()
                    await self._wait_for_work()
            except asyncio.CancelledError:
                await _close_quietly(listener)
                raise
            except Exception as exc:  # noqa: BLE001 - the relay must survive anything and retry
                failures += 1
                metrics.OUTBOX_ERRORS.labels(self._service).inc()
                delay = self._backoff(failures)
                log.warning(
                    "outbox relay failed, retrying",
                    extra={"error": type(exc).__name__, "retry_in_s": round(delay, 2)},
                )
                await _close_quietly(listener)
                listener = None
                await asyncio.sleep(delay)

    async def publish_once(self) -> int:
        """Publish one batch of unpublished rows; return how many were published."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(SELECT_BATCH_SQL, self._settings.batch_size, self._lock)
            if not rows:
                return 0
            done, error = await self._send_in_order(rows)
            if done:
                await conn.execute(
                    "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", done
                )
        if error is not None:
            raise error
        return len(done)

    async def _send_in_order(self, rows: list[asyncpg.Record]) -> tuple[list[int], Exception | None]:
        futures = []
        for row in rows:
            futures.append(
                await self._sender.send(self._topic_name(row["topic"]), row["payload"], row["key"])
            )
        done: list[int] = []
        for row, future in zip(rows, futures, strict=True):
            try:
                await future
            except Exception as exc:  # noqa: BLE001 - stop at the first failure, keep the prefix
                return done, exc
            done.append(row["id"])
            metrics.OUTBOX_PUBLISHED.labels(self._service, row["topic"]).inc()
        return done, None

    async def _update_backlog_now_and_then(self) -> None:
        """The backlog gauges at most once a second: under load the relay wakes far more often."""
        now = asyncio.get_running_loop().time()
        if now >= self._next_backlog_update:
            await self._update_backlog()
            self._next_backlog_update = now + BACKLOG_UPDATE_S

    async def _update_backlog(self) -> None:
        row = await self._pool.fetchrow(
            "SELECT count(*) AS n, min(created_at) AS oldest FROM outbox WHERE published_at IS NULL"
        )
        assert row is not None
        metrics.OUTBOX_BACKLOG.labels(self._service).set(row["n"])
        age = (datetime.now(UTC) - row["oldest"]).total_seconds() if row["oldest"] else 0.0
        metrics.OUTBOX_OLDEST_AGE.labels(self._service).set(max(age, 0.0))

    async def _listen(self) -> asyncpg.Connection:
        conn = await self._connect()
        await conn.add_listener(f"outbox_{self._schema}", lambda *_: self._wake.set())
        # A lost connection loses notifications: wake to listen again and look, not at the poll.
        conn.add_termination_listener(lambda *_: self._wake.set())
        return conn

    async def _wait_for_work(self) -> None:
        # Polling is the safety net for notifications lost while nobody listened.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=self._settings.poll_interval_s)
        if self._settings.linger_s > 0:
            await asyncio.sleep(self._settings.linger_s)
        # Cleared after the linger and before the select: a row committed before this line is
        # in the next batch, one committed after it sets the event again.
        self._wake.clear()

    def _backoff(self, failures: int) -> float:
        base: float = min(self._settings.max_backoff_s, 0.1 * 2 ** min(failures, 10))
        return base * random.uniform(0.5, 1.0)


async def _close_quietly(conn: asyncpg.Connection | None) -> None:
    if conn is None:
        return
    try:
        await conn.close(timeout=1)
    except _CLOSE_ERRORS:
        conn.terminate()


_CLOSE_ERRORS: tuple[type[BaseException], ...] = (asyncpg.PostgresError, *TRANSIENT_DB_ERRORS)
