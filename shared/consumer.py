"""Consuming Kafka records (DESIGN.md §2): typed at the edge, idempotent, never stuck.

A fetched batch is one unit of work: every record is decoded to its topic's event model, the
inbox filters what was handled before, and each topic's use case takes its run of new events in
batch order; then one commit. A single record is a batch of one: there is no other path.

What can go wrong, and what happens:

- A record that breaks the contract (not JSON, unknown type, wrong model for the topic) is
  dead-lettered at once; the rest of the batch goes on.
- A transient failure (the database is away) is retried with backoff for `retry_budget_s`, then
  raised, so the offsets stay where they are and the partition waits. The consumer then counts
  as failing (`/readyz` details, the `consumer_failing` gauge) until a batch succeeds again.
- Any other failure is treated as deterministic: the batch is split and every record handled on
  its own; a record that still fails is tried `poison_attempts` times in all, then dead-lettered.
  So no record, whatever it holds, can stall a partition or loop forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from shared import metrics
from shared.consumer_health import ConsumerHealth
from shared.db import TRANSIENT_DB_ERRORS
from shared.dead_letters import dead_letter, describe
from shared.events import ContractViolation, Envelope, decode_event
from shared.logging import Throttle
from shared.ports import ConsumingUnitOfWork
from shared.records import PoisonMessage, Record, Subscription, TransientFailure
from shared.settings import ConsumerSettings

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class _Decoded:
    index: int
    record: Record
    envelope: Envelope[Any]


_RETRYABLE: tuple[type[BaseException], ...] = (*TRANSIENT_DB_ERRORS, TransientFailure)


class EventConsumer:
    """Handles fetched batches for one consumer group: decode, inbox, use cases, one commit."""

    def __init__(
        self,
        unit_of_work: Callable[[], ConsumingUnitOfWork],
        subscriptions: Mapping[str, Subscription],
        settings: ConsumerSettings,
        *,
        service: str,
        consumer: str,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._subscriptions = subscriptions
        self._settings = settings
        self._service = service
        self._consumer = consumer
        self.health = ConsumerHealth(service)
        self._throttle = Throttle(settings.log_interval_s)

    async def handle_batch(self, records: Sequence[Record]) -> list[str]:
        """Handle records in order; return each one's outcome (handled, duplicate, deadlettered).

        Raises TransientFailure only when a dependency stayed away through the retry budget;
        then nothing of the batch is committed and the caller rewinds to its first record.
        """
        started = time.perf_counter()
        outcomes = [""] * len(records)
        decoded: list[_Decoded] = []
        for i, record in enumerate(records):
            try:
                envelope = decode_event(record.raw, record.topic, self._subscriptions[record.topic].model)
            except ContractViolation as exc:
                outcomes[i] = await self._dead_letter(record, str(exc))
                continue
            decoded.append(_Decoded(i, record, envelope))
        try:
            for item, outcome in zip(decoded, await self._handle(decoded), strict=True):
                outcomes[item.index] = outcome
        except TransientFailure as exc:
            self.health.failed(str(exc))
            raise
        self.health.succeeded()
        share = (time.perf_counter() - started) / max(len(records), 1)
        for record, outcome in zip(records, outcomes, strict=True):
            metrics.EVENTS_HANDLED.labels(self._service, record.topic, outcome).inc()
            metrics.HANDLER_SECONDS.labels(self._service, record.topic).observe(share)
        return outcomes

    async def _handle(self, items: Sequence[_Decoded]) -> list[str]:
        """The items as one unit of work; a deterministic failure splits them, each on its own."""
        if not items:
            return []
        try:
            return await self._retrying(items[0].record.topic, lambda: self._apply(items))
        except TransientFailure:
            raise
        except Exception as exc:  # noqa: BLE001 - anything else is deterministic: isolate the record
            if len(items) > 1:
                return [outcome for item in items for outcome in await self._handle([item])]
            return [await self._failed_alone(items[0], exc)]

    async def _failed_alone(self, item: _Decoded, exc: Exception) -> str:
        """Try a record that failed on its own again, a bounded number of times, then dead-letter it."""
        delay = self._settings.retry_initial_s
        for _ in range(1, self._settings.poison_attempts):
            if isinstance(exc, PoisonMessage):
                break
            self._log_failure(item.record, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._settings.retry_max_s)
            try:
                return (await self._retrying(item.record.topic, lambda: self._apply([item])))[0]
            except TransientFailure:
                raise
            except Exception as again:  # noqa: BLE001 - counted towards the bound, then dead-lettered
                exc = again
        return await self._dead_letter(item.record, describe(exc))

    async def _apply(self, items: Sequence[_Decoded]) -> list[str]:
        """One transaction: the inbox, then each topic's run of new events in batch order."""
        async with self._unit_of_work() as uow:
            ids = [str(item.envelope.event_id) for item in items]
            fresh = await uow.inbox.first_deliveries(self._consumer, ids)
            outcomes: list[str] = []
            todo: list[_Decoded] = []
            for item, event_id in zip(items, ids, strict=True):
                if event_id in fresh:
                    fresh.discard(event_id)  # a second copy in the same batch is a duplicate
                    todo.append(item)
                    outcomes.append("handled")
                else:
                    outcomes.append("duplicate")
            for topic, run in _runs(todo):
                await self._subscriptions[topic].handler(uow, run)
            await uow.commit()
        return outcomes

    async def _dead_letter(self, record: Record, error: str) -> str:
        """Publish a dead letter for the record (once, however often it is read) and move on."""
        letter = dead_letter(record, self._consumer, self._service, error)

        async def publish() -> str:
            async with self._unit_of_work() as uow:
                if not await uow.inbox.first_deliveries(self._consumer, [record.message_id]):
                    return "duplicate"
                await uow.outbox.add([letter])
                await uow.commit()
            return "deadlettered"

        outcome = await self._retrying(record.topic, publish)
        if outcome == "deadlettered":
            metrics.DEADLETTERS.labels(self._service, record.topic).inc()
            log.warning(
                "message dead-lettered",
                extra={"topic": record.topic, "partition": record.partition, "offset": record.offset,
                       "error": error[:300]},
            )  # fmt: skip
        return outcome

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
                if self._throttle.allows(("retry", topic)):
                    log.warning(
                        "transient failure, retrying",
                        extra={"topic": topic, "error": type(exc).__name__,
                               "suppressed": self._throttle.suppressed(("retry", topic))},
                    )  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._settings.retry_max_s)

    def _log_failure(self, record: Record, exc: Exception) -> None:
        key = ("failure", record.topic)
        if self._throttle.allows(key):
            log.warning(
                "a record failed; trying it again before dead-lettering it",
                extra={"topic": record.topic, "partition": record.partition, "offset": record.offset,
                       "error": describe(exc), "suppressed": self._throttle.suppressed(key)},
            )  # fmt: skip


def _runs(items: Sequence[_Decoded]) -> list[tuple[str, list[Envelope[Any]]]]:
    """Consecutive items of one topic as runs, in batch order."""
    runs: list[tuple[str, list[Envelope[Any]]]] = []
    for item in items:
        if runs and runs[-1][0] == item.record.topic:
            runs[-1][1].append(item.envelope)
        else:
            runs.append((item.record.topic, [item.envelope]))
    return runs
