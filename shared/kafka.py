"""Kafka plumbing with the settings DESIGN.md §2 requires: commit after success, explicit topics."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable
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
# How long one poll waits for records (and, in FastStream, sleeps after an empty poll): short,
# because it adds to every event's latency when the topic is quiet.
CONSUME_BATCH_WAIT_MS = 20


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
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": settings.session_timeout_ms // 3,
    }


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
