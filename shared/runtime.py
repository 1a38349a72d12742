"""The infrastructure every service process holds: pool, schema, topics, relay, consumers.

Opened and closed in one place (the FastAPI lifespan of each service's composition root).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

import asyncpg
import uvicorn
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import APIRouter, FastAPI
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from uvicorn.config import STARTUP_FAILURE

from shared import db, metrics
from shared.consumer import EventConsumer
from shared.events import Envelope, WireModel
from shared.http import SecurityHeaders, add_problem_handlers, health_router
from shared.kafka import (
    CONSUME_BATCH_MAX,
    QUIET_AFTER_MS,
    IdleAwarePolling,
    ProducerSender,
    ensure_topics,
    make_broker,
    make_producer,
    subscriber_options,
)
from shared.outbox import OutboxRelay
from shared.ports import ConsumingUnitOfWork
from shared.records import Record, Subscription
from shared.resting import RestingServer
from shared.settings import HttpSettings, ServiceSettings

log = logging.getLogger(__name__)
U = TypeVar("U", bound=ConsumingUnitOfWork)
E = TypeVar("E", bound=WireModel)
# Each step of starting the broker or stopping a service gets this long; a step that takes
# longer is reported and the rest of the shutdown goes on.
START_STOP_TIMEOUT_S = 60.0


async def _bounded(what: str, step: Awaitable[Any]) -> bool:
    """Await one shutdown step for at most START_STOP_TIMEOUT_S; False when it timed out."""
    try:
        await asyncio.wait_for(step, timeout=START_STOP_TIMEOUT_S)
    except TimeoutError:
        log.warning("a shutdown step did not finish in time", extra={"step": what})
        return False
    return True


# The lag gauge's period: one end-offsets request to the broker per round (at rest no more);
# Prometheus scrapes every 15-30 s and ConsumerLagGrowing looks at 10 minutes.
LAG_INTERVAL_S = 30.0


class Runtime(Generic[U]):
    """Owns a service's connections and background tasks between `start` and `stop`."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        service: str,
        migrations: str,
        topics: Iterable[str],
        unit_of_work: Callable[[asyncpg.Pool], U],
    ) -> None:
        self.settings = settings
        self.service = service
        self.schema = service
        self._migrations = migrations
        self._topics = tuple(topics)
        self._unit_of_work = unit_of_work
        self.broker: KafkaBroker = make_broker(settings.kafka, client_id=service)
        self._producer: AIOKafkaProducer | None = None
        self._pool: asyncpg.Pool | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriptions: dict[str, Subscription] = {}
        self._subscriber: Any = None
        self._consumer: EventConsumer | None = None
        # The end offsets when every partition's lag was last measured as zero (see _record_lag).
        self._caught_up_at: dict[Any, int] | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        """The service's connection pool (only between start and stop)."""
        if self._pool is None:
            raise RuntimeError(f"{self.service} runtime is not started")
        return self._pool

    def unit_of_work(self) -> U:
        """A new unit of work on the service's pool (only between start and stop)."""
        return self._unit_of_work(self.pool)

    def subscribe(
        self, topic: str, model: type[E], handler: Callable[[U, Sequence[Envelope[E]]], Awaitable[None]]
    ) -> None:
        """Handle every event on a contract topic: `handler` gets the unit of work of a fetched
        batch and the topic's run of new events in it, decoded to `model`, in batch order.

        All of a service's topics share one consumer in its group, so one member joining or
        leaving causes one rebalance, not one per topic.
        """
        self._subscriptions[topic] = Subscription(topic, model, handler)

    def consumer_details(self) -> dict[str, object]:
        """How the consumer is doing, for `/readyz`."""
        return {} if self._consumer is None else {"consumer": self._consumer.health.details()}

    def _register_consumer(self) -> None:
        if not self._subscriptions:
            return
        kafka = self.settings.kafka
        by_concrete = {kafka.topic(t): t for t in self._subscriptions}
        consumer = EventConsumer(
            self.unit_of_work, self._subscriptions, self.settings.consumer,
            service=self.service, consumer=self.service,
        )  # fmt: skip
        self._consumer = consumer

        # Batches: what one fetch returned (up to CONSUME_BATCH_MAX records) is handled in one
        # transaction and committed to Kafka once, instead of a transaction and an offset commit
        # per record (bench/: the largest cost per event). A failure rewinds every partition of
        # the batch to its first record (NACK_ON_ERROR), and the inbox skips what was done.
        self._subscriber = self.broker.subscriber(
            *by_concrete,
            batch=True,
            max_records=CONSUME_BATCH_MAX,
            batch_timeout_ms=QUIET_AFTER_MS,  # unused: IdleAwarePolling polls instead
            **subscriber_options(kafka, self.service),
        )
        IdleAwarePolling.from_settings(kafka).install(self._subscriber)

        @self._subscriber  # type: ignore[untyped-decorator]
        async def on_batch(msg: KafkaMessage) -> None:
            records = msg.raw_message if isinstance(msg.raw_message, tuple) else (msg.raw_message,)
            batch = [Record(r.value, by_concrete[r.topic], r.partition, r.offset) for r in records]
            if batch:
                await consumer.handle_batch(batch)

    async def _measure_lag(self) -> None:
        """Every LAG_INTERVAL_S: end offset minus committed offset on this instance's partitions."""
        while True:
            consumer = getattr(self._subscriber, "consumer", None)
            if consumer is not None and consumer.assignment():
                try:
                    await self._record_lag(consumer)
                except (KafkaError, OSError) as exc:  # the broker is away; try again next round
                    log.info("consumer lag unknown", extra={"error": type(exc).__name__})
            await asyncio.sleep(LAG_INTERVAL_S)

    async def _record_lag(self, consumer: Any) -> None:
        partitions = list(consumer.assignment())
        ends = await consumer.end_offsets(partitions)
        if ends == self._caught_up_at:
            return  # nothing new since the lag was zero everywhere: it still is (at rest, always)
        lag: dict[str, int] = {}
        for tp in partitions:
            committed = await consumer.committed(tp) or 0
            topic = tp.topic.removeprefix(self.settings.kafka.topic_prefix)
            lag[topic] = lag.get(topic, 0) + max(0, ends[tp] - committed)
        for topic, value in lag.items():
            metrics.CONSUMER_LAG.labels(self.service, topic).set(value)
        self._caught_up_at = ends if not any(lag.values()) else None

    def run_in_background(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run a long-lived coroutine until `stop`, restarting it if it ever fails."""
        self._tasks.append(asyncio.create_task(self._supervise(name, work), name=f"{self.service}:{name}"))

    async def _supervise(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await work()
                return
            except Exception:
                log.exception("background task failed, restarting", extra={"task": name})
                await asyncio.sleep(1.0)

    async def start(self) -> None:
        """Open the pool, migrate, create topics, start the relay and the consumers."""
        self._pool = await db.create_pool(self.settings.database, self.schema)
        applied = await db.apply_migrations(self._pool, self.schema, self._migrations)
        if applied:
            log.info("migrations applied", extra={"migrations": applied})
        await ensure_topics(self.settings.kafka, self._topics)
        self._producer = make_producer(self.settings.kafka, client_id=f"{self.service}-relay")
        await self._producer.start()
        relay = OutboxRelay(
            self._pool,
            ProducerSender(self._producer),
            self.settings.outbox,
            schema=self.schema,
            service=self.service,
            topic_name=self.settings.kafka.topic,
            connect=lambda: db.connect(self.settings.database, self.schema),
        )
        self.run_in_background("outbox-relay", relay.run)
        self._register_consumer()
        # A broker that never answers must fail the start with a clear error, not hang it.
        await asyncio.wait_for(self.broker.start(), timeout=START_STOP_TIMEOUT_S)
        if self._subscriber is not None:
            self.run_in_background("consumer-lag", self._measure_lag)

    async def stop(self) -> None:
        """Stop consuming first, then background tasks, then the producer and the pool."""
        await _bounded("consumers", self.broker.stop())
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await _bounded("background task", task)
        self._tasks.clear()
        if self._producer is not None:
            await _bounded("producer", self._producer.stop())
        if self._pool is not None and not await _bounded("database pool", self._pool.close()):
            self._pool.terminate()

    async def check_database(self) -> None:
        """Readiness: a round trip to Postgres."""
        await asyncio.wait_for(self.pool.fetchval("SELECT 1"), timeout=2)

    async def check_kafka(self) -> None:
        """Readiness: a fresh metadata request to the Kafka cluster succeeds."""
        if self._producer is None:
            raise RuntimeError("producer not started")
        ok = await asyncio.wait_for(self._producer.client.force_metadata_update(), timeout=3)
        if not ok:
            raise ConnectionError("Kafka metadata request failed")

    def readiness_checks(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """The checks /readyz runs."""
        return {"database": self.check_database, "kafka": self.check_kafka}


def service_app(
    title: str,
    runtime: Runtime[Any],
    *,
    routers: Sequence[APIRouter] = (),
    on_start: Callable[[], Awaitable[None] | None] | None = None,
    extra_metrics: Callable[[], Awaitable[bytes]] | None = None,
) -> FastAPI:
    """A service's FastAPI app: the runtime opened and closed in its lifespan, health routes."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        started = on_start() if on_start is not None else None
        if started is not None:
            await started  # before the first request is served
        try:
            yield
        finally:
            await runtime.stop()

    on = runtime.settings.http.api_docs  # API docs only when a deployment asks for them
    app = FastAPI(
        title=f"referral-router {title}", version="1", lifespan=lifespan, docs_url="/docs" if on else None,
        redoc_url="/redoc" if on else None, openapi_url="/openapi.json" if on else None,
    )  # fmt: skip
    app.add_middleware(SecurityHeaders)
    checks, details = runtime.readiness_checks(), runtime.consumer_details
    app.include_router(health_router(checks, extra_metrics=extra_metrics, details=details))
    add_problem_handlers(app)
    for router in routers:
        app.include_router(router)
    return app


def serve(app: FastAPI, settings: HttpSettings) -> None:
    """Run the app until SIGTERM; uvicorn's graceful shutdown runs the lifespan's exit.

    uvloop and httptools instead of asyncio's own loop and h11: the event loop and socket
    writes were the largest single cost of every service under load (bench/profile.py).
    """
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        loop="uvloop",
        http="httptools",
    )
    server = RestingServer(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:  # as uvicorn.run: a failed start (bad config, lifespan) exits non-zero
        sys.exit(STARTUP_FAILURE)
