"""Helpers for tests against real infrastructure: wait for conditions, read topics, sign posts."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.intake.signatures import sign

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    ok: Callable[[T], bool],
    timeout_s: float = 30.0,
    interval_s: float = 0.2,
) -> T:
    """Poll `probe` until `ok(value)`; fail with the last value when the deadline passes."""
    deadline = time.monotonic() + timeout_s
    value = await probe()
    while not ok(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s; last value: {value!r}")
        await asyncio.sleep(interval_s)
        value = await probe()
    return value


async def read_topic(
    bootstrap: str, topic: str, *, expect: int, timeout_s: float = 30.0, settle_s: float = 1.0
) -> list[Any]:
    """Read a topic from the beginning until `expect` records arrived (plus a short settle time).

    Returns (key, parsed JSON or raw bytes, partition, offset) tuples. Uses no consumer group, so
    it never disturbs the services' committed offsets.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        partitions = await eventually(lambda: _partitions(consumer, topic), bool, timeout_s)
        from aiokafka import TopicPartition

        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        settle_until: float | None = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for msgs in batch.values():
                records.extend(_decode(m) for m in msgs)
            if len(records) >= expect:
                settle_until = settle_until or time.monotonic() + settle_s
                if time.monotonic() >= settle_until:
                    break
        return records
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


def _decode(m: Any) -> tuple[bytes | None, Any, int, int]:
    try:
        value: Any = json.loads(m.value)
    except ValueError:
        value = m.value
    return m.key, value, m.partition, m.offset


async def produce(bootstrap: str, topic: str, values: list[tuple[bytes, bytes]]) -> None:
    """Produce raw (key, value) records, waiting for each to be acknowledged."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in values:
            await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()


def signed_headers(
    body: bytes, client: str = "dev-portal", secret: str = "dev-portal-secret", at: float | None = None
) -> dict[str, str]:
    """Headers of a correctly signed portal request."""
    return {
        "content-type": "application/json",
        "x-client-id": client,
        "x-signature": sign(secret, int(at if at is not None else time.time()), body),
    }


def random_runs(items: Sequence[T], rng: random.Random, lengths: Sequence[int]) -> Iterator[Sequence[T]]:
    """Consecutive runs of `items`, each as long as a random choice from `lengths`, as a batch splits."""
    start = 0
    while start < len(items):
        end = start + rng.choice((*lengths, len(items)))
        yield items[start:end]
        start = end
