"""Kafka plumbing with the settings DESIGN.md §2 requires: commit after success, explicit topics."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from itertools import chain
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = TopicAlreadyExistsError.errno
# A consumer handles up to this many fetched records in one transaction with one offset commit.
CONSUME_BATCH_MAX = 200
# A poll that found nothing for this long counts the topics as quiet (see `IdleAwarePolling`);
# once they are, a poll waits up to QUIET_POLL_MS. Records end a poll the moment aiokafka has
# them, so neither length adds latency.
QUIET_AFTER_MS = 1000
QUIET_POLL_MS = 30_000
# How long aiokafka's fetch task sleeps when nothing wakes it: its default (200 ms) woke every
# consumer five times a second at rest. Fetch responses, consumed records, assignment changes
# and error backoffs wake it anyway (aiokafka 0.14 `Fetcher._fetch_requests_routine`), so this
# is only a timer that, when shorter than the idle fetch wait, woke the process for nothing.
FETCHER_WAKE_MS = 30_000


def make_broker(settings: KafkaSettings, *, client_id: str) -> KafkaBroker:
    """A FastStream broker for consuming; topics are never created implicitly."""
    return KafkaBroker(
        settings.bootstrap_servers,
        client_id=client_id,
        allow_auto_create_topics=False,
        request_timeout_ms=settings.request_timeout_ms,
        logger=logging.getLogger(f"faststream.{client_id}"),
        # One log line per message would drown the JSON logs; our consumer logs what matters.
        log_level=logging.DEBUG,
    )


def subscriber_options(settings: KafkaSettings, group: str) -> dict[str, Any]:
    """Options for every subscriber: its group, commit only after the handler succeeded.

    NACK_ON_ERROR seeks back to a failed message so it is read again; ACK and REJECT_ON_ERROR
    would commit a message whose effects never reached the database.
    """
    return {
        "group_id": settings.group(group),
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "auto_offset_reset": "earliest",
        "fetch_max_wait_ms": settings.fetch_max_wait_ms,
        "fetch_min_bytes": settings.consumer_min_bytes,
        "consumer_timeout_ms": FETCHER_WAKE_MS,
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": settings.session_timeout_ms // 3,
    }


@dataclass(frozen=True)
class FetchShape:
    """What a fetch asks the broker for: wait up to `max_wait_ms` for `min_bytes` of records."""

    max_wait_ms: int
    min_bytes: int


class IdleAwarePolling:
    """The poll of a FastStream batch subscriber, shaped for a system that is mostly at rest.

    FastStream's own poll waits `batch_timeout_ms` and then sleeps as long again after an empty
    poll, so a short timeout wakes every consumer many times a second and a long one delays the
    first record after a pause. This poll waits for records without sleeping, and shapes the
    fetches by what it saw: while records flow, the configured short gathering wait
    (`fetch_max_wait_ms`, `fetch_min_bytes`: batches under load); once a poll found nothing for
    QUIET_AFTER_MS, a long wait for a single byte (`idle_fetch_max_wait_ms`). Apache Kafka
    answers such a fetch the moment a record arrives. Tansu looks again at half the remaining
    wait and answers after the look that found records plus one more sleep, so on Tansu the
    idle wait bounds the first record's delay (about three quarters of it, measured in
    bench/idle.py).

    The shape is set on aiokafka's fetcher (pinned version; tests/integration/test_idle_wake_ups.py
    fails if the attributes move), and applies from the next fetch request on.
    """

    def __init__(self, busy: FetchShape, idle: FetchShape) -> None:
        self.busy = busy
        self.idle = idle
        self._quiet = False

    @classmethod
    def from_settings(cls, settings: KafkaSettings) -> IdleAwarePolling:
        """The busy shape from the consumer settings, the idle one from `idle_fetch_max_wait_ms`."""
        return cls(
            FetchShape(settings.fetch_max_wait_ms, settings.consumer_min_bytes),
            FetchShape(settings.consumer_idle_max_wait_ms, 1),
        )

    def install(self, subscriber: Any) -> None:
        """Replace the subscriber's poll (FastStream calls `get_msg` in its consume loop)."""

        async def get_msg(consumer: Any) -> tuple[Any, ...]:
            return await self.poll(consumer)

        subscriber.get_msg = get_msg

    async def poll(self, consumer: Any) -> tuple[Any, ...]:
        """Up to CONSUME_BATCH_MAX records, or () after QUIET_AFTER_MS (when quiet already:
        QUIET_POLL_MS) without any."""
        wait_ms = QUIET_POLL_MS if self._quiet else QUIET_AFTER_MS
        fetched = await consumer.getmany(timeout_ms=wait_ms, max_records=CONSUME_BATCH_MAX)
        self._quiet = not fetched
        self.shape(consumer, busy=bool(fetched))
        return tuple(chain(*fetched.values()))

    def shape(self, consumer: Any, *, busy: bool) -> None:
        """Make the consumer's next fetch requests busy- or idle-shaped."""
        shape = self.busy if busy else self.idle
        fetcher = consumer._fetcher
        fetcher._fetch_max_wait_ms = shape.max_wait_ms
        fetcher._fetch_min_bytes = shape.min_bytes


def make_producer(settings: KafkaSettings, *, client_id: str) -> AIOKafkaProducer:
    """The outbox relay's producer: every replica must have the record before it counts as sent."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=settings.idempotent_producer,
        request_timeout_ms=settings.request_timeout_ms,
        linger_ms=2,
    )


class ProducerSender:
    """Adapts an AIOKafkaProducer to the relay's RecordSender protocol."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def send(self, topic: str, value: bytes, key: bytes) -> Awaitable[Any]:
        """Enqueue one record; the returned future resolves when the broker acknowledged it."""
        future: Awaitable[Any] = await self._producer.send(topic, value=value, key=key)
        return future


async def ensure_topics(settings: KafkaSettings, names: Iterable[str]) -> None:
    """Create the given contract topics if missing, with the configured partition count."""
    wanted = [settings.topic(n) for n in names]
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        request_timeout_ms=settings.request_timeout_ms,
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if not missing:
            return
        response = await admin.create_topics(
            [NewTopic(t, settings.partitions, settings.replication_factor) for t in missing]
        )
        for topic, code, *_ in response.topic_errors:
            # Another service may have created the same topic a moment earlier.
            if code not in (0, TOPIC_ALREADY_EXISTS):
                raise RuntimeError(f"could not create topic {topic}: error code {code}")
        log.info("created topics", extra={"topics": missing})
    finally:
        await admin.close()
