"""Idempotent, retrying, dead-lettering handling of one Kafka message (DESIGN.md §2)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

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
from shared.inbox import first_deliveries, first_delivery
from shared.outbox import add_to_outbox
from shared.settings import ConsumerSettings

log = logging.getLogger(__name__)

Handler = Callable[[Conn, Envelope[Any]], Awaitable[None]]
# Handles a run of consecutive new events of one topic at once (e.g. one executemany per
# statement); must leave the same state as `Handler` called on each of them in order.
RunHandler = Callable[[Conn, Sequence[Envelope[Any]]], Awaitable[None]]
T = TypeVar("T")


@dataclass(frozen=True)
class Incoming:
    """One Kafka record of a batch and the handler of its topic."""

    raw: bytes
    topic: str
    partition: int
    offset: int
    handler: Handler
    run_handler: RunHandler | None = None


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

    async def handle_batch(self, batch: Sequence[Incoming]) -> list[str]:
        """Handle records in order in one transaction (one inbox insert, one commit for all).

        Per-key order holds: records of a partition come in offset order and are applied in that
        order. If any record breaks the contract or is poison, the transaction is rolled back and
        every record is handled on its own, so the good ones commit and the bad one is
        dead-lettered exactly as without batching. Raises only when retries are exhausted; then
        nothing of the batch is committed and the caller rewinds to its first record.
        """
        if len(batch) == 1:
            one = batch[0]
            return [await self.handle(one.raw, topic=one.topic, partition=one.partition,
                                      offset=one.offset, handler=one.handler)]  # fmt: skip
        started = time.perf_counter()
        try:
            envelopes = [parse_event(item.raw, topic=item.topic) for item in batch]
            outcomes = await self._retrying(batch[0].topic, lambda: self._apply_batch(batch, envelopes))
        except (ContractViolation, PoisonMessage):
            return [
                await self.handle(
                    i.raw, topic=i.topic, partition=i.partition, offset=i.offset, handler=i.handler
                )
                for i in batch
            ]
        share = (time.perf_counter() - started) / len(batch)
        for item, outcome in zip(batch, outcomes, strict=True):
            metrics.EVENTS_HANDLED.labels(self._service, item.topic, outcome).inc()
            metrics.HANDLER_SECONDS.labels(self._service, item.topic).observe(share)
        return outcomes

    async def _apply_batch(self, batch: Sequence[Incoming], envelopes: list[Envelope[Any]]) -> list[str]:
        async with self._pool.acquire() as conn, conn.transaction():
            ids = [str(e.event_id) for e in envelopes]
            fresh = await first_deliveries(conn, self._consumer, ids)
            outcomes: list[str] = []
            todo: list[tuple[Incoming, Envelope[Any]]] = []
            for item, envelope, event_id in zip(batch, envelopes, ids, strict=True):
                if event_id not in fresh:
                    outcomes.append("duplicate")
                    continue
                fresh.discard(event_id)  # a second copy in the same batch is a duplicate
                todo.append((item, envelope))
                outcomes.append("handled")
            await _handle_in_order(conn, todo)
        return outcomes

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

    async def _retrying(self, topic: str, attempt: Callable[[], Awaitable[T]]) -> T:
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


async def _handle_in_order(conn: Conn, todo: Sequence[tuple[Incoming, Envelope[Any]]]) -> None:
    """Apply new events in batch order; consecutive events of a topic with a run handler at once."""
    start = 0
    while start < len(todo):
        item = todo[start]
        end = start + 1
        if item[0].run_handler is None:
            await item[0].handler(conn, item[1])
        else:
            while end < len(todo) and todo[end][0].topic == item[0].topic:
                end += 1
            await item[0].run_handler(conn, [envelope for _, envelope in todo[start:end]])
        start = end
