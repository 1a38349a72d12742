"""Idempotent, retrying, dead-lettering handling of one Kafka message (DESIGN.md §2)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from shared import metrics
from shared.db import TRANSIENT_DB_ERRORS, Conn
from shared.events import (
    TOPIC_DEADLETTER,
    ContractViolation,
    DeadLetter,
    Envelope,
    new_envelope,
    parse_event,
)
from shared.inbox import first_delivery
from shared.outbox import add_to_outbox
from shared.settings import ConsumerSettings

log = logging.getLogger(__name__)

Handler = Callable[[Conn, Envelope[Any]], Awaitable[None]]


class PoisonMessage(Exception):
    """A well-formed message the handler can never process; it goes to the dead-letter topic."""


class TransientFailure(Exception):
    """A failure expected to pass (a dependency is down): retry, then leave the offset alone."""


_RETRYABLE: tuple[type[BaseException], ...] = (*TRANSIENT_DB_ERRORS, TransientFailure)


class EventConsumer:
    """Runs a handler for one message: inbox check and effects in one transaction."""

    def __init__(
        self, pool: asyncpg.Pool, settings: ConsumerSettings, *, service: str, consumer: str
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._service = service
        self._consumer = consumer

    async def handle(self, raw: bytes, *, topic: str, partition: int, offset: int, handler: Handler) -> str:
        """Handle one message; return the outcome. Raises only when retries are exhausted."""
        started = time.perf_counter()
        try:
            envelope = parse_event(raw, topic=topic)
            outcome = await self._retrying(topic, lambda: self._apply(envelope, handler))
        except (ContractViolation, PoisonMessage) as exc:
            reason = str(exc)
            outcome = await self._retrying(topic, lambda: self._dead_letter(topic, partition, offset, reason))
        metrics.EVENTS_HANDLED.labels(self._service, topic, outcome).inc()
        metrics.HANDLER_SECONDS.labels(self._service, topic).observe(time.perf_counter() - started)
        return outcome

    async def _apply(self, envelope: Envelope[Any], handler: Handler) -> str:
        # A PoisonMessage raised by the handler rolls this transaction back, inbox row included.
        async with self._pool.acquire() as conn, conn.transaction():
            if not await first_delivery(conn, self._consumer, str(envelope.event_id)):
                return "duplicate"
            await handler(conn, envelope)
        return "handled"

    async def _dead_letter(self, topic: str, partition: int, offset: int, error: str) -> str:
        message_id = f"{topic}:{partition}:{offset}"
        letter = new_envelope(
            "deadletter",
            DeadLetter(
                topic=topic, partition=partition, offset=offset, consumer=self._consumer, error=error[:2000]
            ),
            producer=self._service,
            correlation_id=message_id,
        )
        # A stable id makes a redelivered poison message produce the same dead letter, not two.
        letter = letter.model_copy(update={"event_id": uuid.uuid5(uuid.NAMESPACE_URL, message_id)})
        async with self._pool.acquire() as conn, conn.transaction():
            if not await first_delivery(conn, self._consumer, message_id):
                return "duplicate"
            await add_to_outbox(conn, TOPIC_DEADLETTER, letter)
        metrics.DEADLETTERS.labels(self._service, topic).inc()
        log.warning(
            "message dead-lettered",
            extra={"topic": topic, "partition": partition, "offset": offset, "error": error[:300]},
        )
        return "deadlettered"

    async def _retrying(self, topic: str, attempt: Callable[[], Awaitable[str]]) -> str:
        delay = self._settings.retry_initial_s
        deadline = time.monotonic() + self._settings.retry_budget_s
        while True:
            try:
                return await attempt()
            except _RETRYABLE as exc:
                if time.monotonic() + delay > deadline:
                    metrics.EVENTS_HANDLED.labels(self._service, topic, "failed").inc()
                    raise TransientFailure(f"gave up after retries: {type(exc).__name__}") from exc
                metrics.HANDLER_RETRIES.labels(self._service, topic).inc()
                log.warning(
                    "transient failure, retrying", extra={"topic": topic, "error": type(exc).__name__}
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._settings.retry_max_s)
