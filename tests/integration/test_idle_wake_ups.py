"""A system at rest waits for work instead of polling for it (issue 25), and still never misses it.

The outbox relay sleeps on LISTEN with only a slow safety poll: a committed row's NOTIFY wakes it
(shown with a poll interval of an hour, which the test would never outlast), a row whose NOTIFY
was lost is found by the poll, and a dropped listening connection is replaced at once. A quiet
consumer asks the broker for long, single-byte fetches and goes back to short gathering ones as
soon as records flow; the lag gauge skips the committed offsets only while nothing new arrived.
Real Postgres and a real Kafka-protocol broker throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from services.metrics.main import MetricsSettings, create_app
from shared import db, metrics
from shared.events import TOPIC_RECEIVED, outbox_row
from shared.kafka import FetchShape, IdleAwarePolling, ProducerSender, ensure_topics, make_producer
from shared.outbox import OutboxRelay, PostgresOutbox
from shared.runtime import Runtime
from shared.settings import DatabaseSettings, KafkaSettings, OutboxSettings, ServiceSettings
from tests.helpers import eventually, produce, read_topic
from tests.wire import received_event

AN_HOUR = 3600.0
# The relay's last statements before it waits: a round's COMMIT, then (at most once a second) the
# backlog gauges. A row committed after either needs a wake-up (or the poll) to be seen.
RELAY_DONE = (
    "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle' AND (query LIKE 'COMMIT%' OR query LIKE $1)"
)
BACKLOG = "SELECT count(*) AS n, min(created_at) AS oldest FROM outbox%"


@pytest.fixture
def kafka_settings(kafka_broker, topic_prefix) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=kafka_broker.bootstrap, flavour=kafka_broker.flavour, topic_prefix=topic_prefix,
        partitions=1,
    )  # fmt: skip


@dataclass
class RunningRelay:
    pool: asyncpg.Pool  # the test's own: the relay's connections keep their last statement visible
    kafka: KafkaSettings

    async def add(self, referral_id: str) -> None:
        """A row and its NOTIFY, committed, as every service writes them."""
        async with self.pool.acquire() as conn, conn.transaction():
            await PostgresOutbox(conn).add([outbox_row(TOPIC_RECEIVED, received_event(referral_id))])

    async def add_without_notify(self, referral_id: str) -> None:
        """A row whose NOTIFY is lost (as when nobody listened at its commit)."""
        row = outbox_row(TOPIC_RECEIVED, received_event(referral_id))
        await self.pool.execute(
            "INSERT INTO outbox (event_id, topic, key, payload) VALUES ($1, $2, $3, $4)", *row
        )

    async def listener_pids(self) -> list[int]:
        rows = await self.pool.fetch(
            "SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()"
        )
        return [r["pid"] for r in rows]

    async def waiting(self) -> None:
        """Until the relay listens and has finished a round: what comes now needs a wake-up."""
        await eventually(self.listener_pids, bool)
        await eventually(lambda: self.pool.fetchval(RELAY_DONE, BACKLOG), lambda n: n > 0)

    async def published(self, count: int) -> list[str]:
        records = await read_topic(
            self.kafka.bootstrap_servers, self.kafka.topic(TOPIC_RECEIVED), expect=count
        )
        return [value["data"]["referral_id"] for _, value, _, _ in records]


@pytest.fixture
async def relay_with_poll(database_url, kafka_settings, request) -> AsyncIterator[RunningRelay]:
    database = DatabaseSettings(url=database_url)
    pool = await db.create_pool(database, "intake")
    await db.apply_migrations(pool, "intake", "services.intake.migrations")
    await ensure_topics(kafka_settings, [TOPIC_RECEIVED])
    producer = make_producer(kafka_settings, client_id="test-relay")
    await producer.start()
    observer = await db.create_pool(database, "intake")
    relay = OutboxRelay(
        pool, ProducerSender(producer), OutboxSettings(poll_interval_s=request.param, linger_s=0),
        schema="intake", service="test", topic_name=kafka_settings.topic,
        connect=lambda: db.connect(database, "intake"),
    )  # fmt: skip
    task = asyncio.create_task(relay.run())
    try:
        yield RunningRelay(observer, kafka_settings)
    finally:
        await observer.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await producer.stop()
        await pool.close()


@pytest.mark.parametrize("relay_with_poll", [AN_HOUR], indirect=True)
async def test_a_committed_row_wakes_the_relay_which_publishes_it_without_waiting_for_the_poll(
    relay_with_poll,
):
    await relay_with_poll.waiting()
    await relay_with_poll.add("R-woken")
    assert await relay_with_poll.published(1) == ["R-woken"]


@pytest.mark.parametrize("relay_with_poll", [0.3], indirect=True)
async def test_the_safety_poll_publishes_a_row_whose_notify_was_lost(relay_with_poll):
    await relay_with_poll.waiting()
    await relay_with_poll.add_without_notify("R-unannounced")
    assert await relay_with_poll.published(1) == ["R-unannounced"]


@pytest.mark.parametrize("relay_with_poll", [AN_HOUR], indirect=True)
async def test_a_dropped_listening_connection_is_replaced_at_once_not_at_the_next_poll(relay_with_poll):
    await relay_with_poll.waiting()
    [first] = await relay_with_poll.listener_pids()
    await relay_with_poll.pool.execute("SELECT pg_terminate_backend($1)", first)
    await eventually(relay_with_poll.listener_pids, lambda pids: bool(pids) and first not in pids)
    await relay_with_poll.waiting()
    await relay_with_poll.add("R-after-reconnect")
    assert await relay_with_poll.published(1) == ["R-after-reconnect"]


async def test_a_quiet_consumer_asks_for_long_fetches_and_short_ones_once_records_flow(kafka_settings):
    topic = kafka_settings.topic("quiet")
    await ensure_topics(kafka_settings, ["quiet"])
    busy, idle = FetchShape(50, 4096), FetchShape(700, 1)
    polling = IdleAwarePolling(busy, idle)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_settings.bootstrap_servers, group_id=kafka_settings.group("quiet"),
        auto_offset_reset="earliest", enable_auto_commit=False, fetch_max_wait_ms=busy.max_wait_ms,
        fetch_min_bytes=busy.min_bytes, session_timeout_ms=6000, heartbeat_interval_ms=2000,
    )  # fmt: skip
    await consumer.start()
    try:
        assert _shape(consumer) == busy  # aiokafka keeps its settings where IdleAwarePolling sets them
        assert await polling.poll(consumer) == ()
        assert _shape(consumer) == idle
        await produce(kafka_settings.bootstrap_servers, topic, [(b"k", b"first after a pause")])
        found = await eventually(lambda: polling.poll(consumer), bool, interval_s=0)
        assert [r.value for r in found] == [b"first after a pause"]
        assert _shape(consumer) == busy
    finally:
        await consumer.stop()


def _shape(consumer: AIOKafkaConsumer) -> FetchShape:
    fetcher = consumer._fetcher
    return FetchShape(fetcher._fetch_max_wait_ms, fetcher._fetch_min_bytes)


def test_the_idle_fetch_wait_is_long_where_the_broker_answers_early_and_bounded_on_tansu():
    assert KafkaSettings(flavour="apache").consumer_idle_max_wait_ms == 20_000
    assert KafkaSettings(flavour="apache", request_timeout_ms=9000).consumer_idle_max_wait_ms == 6000
    assert KafkaSettings(flavour="tansu").consumer_idle_max_wait_ms == 1200
    assert KafkaSettings(flavour="tansu", idle_fetch_max_wait_ms=300).consumer_idle_max_wait_ms == 300
    with pytest.raises(ValidationError, match="idle_fetch_max_wait_ms"):
        KafkaSettings(idle_fetch_max_wait_ms=30_000, request_timeout_ms=30_000)


async def test_the_lag_gauge_skips_the_committed_offsets_only_while_nothing_new_arrived(kafka_settings):
    # At rest the gauge stops after the end offsets; new records must still show as lag.
    await ensure_topics(kafka_settings, ["lagging"])
    topic = kafka_settings.topic("lagging")
    runtime = Runtime(
        ServiceSettings(kafka=kafka_settings), service="lag-test", migrations="", topics=(),
        unit_of_work=lambda pool: pool,
    )  # fmt: skip
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_settings.bootstrap_servers, group_id=kafka_settings.group("lag"),
        auto_offset_reset="earliest", enable_auto_commit=False, session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
    )  # fmt: skip
    gauge = metrics.CONSUMER_LAG.labels("lag-test", "lagging")
    await consumer.start()
    try:
        await eventually(lambda: _assigned(consumer), bool, interval_s=0)
        await produce(kafka_settings.bootstrap_servers, topic, [(b"k", b"one"), (b"k", b"two")])
        await runtime._record_lag(consumer)  # the step the lag loop repeats every 10 s
        assert gauge._value.get() == 2
        await consumer.commit(
            {tp: end for tp, end in (await consumer.end_offsets(consumer.assignment())).items()}
        )
        await runtime._record_lag(consumer)
        await runtime._record_lag(consumer)  # nothing new: skipped, still zero
        assert gauge._value.get() == 0
        await produce(kafka_settings.bootstrap_servers, topic, [(b"k", b"three")])
        await runtime._record_lag(consumer)
        assert gauge._value.get() == 1
    finally:
        await consumer.stop()


async def _assigned(consumer: AIOKafkaConsumer) -> bool:
    await consumer.getmany(timeout_ms=200)
    return bool(consumer.assignment())


# A service at rest: every timer its event loop schedules. The consumer's heartbeat (a third of
# the session timeout) is the shortest that may remain; uvicorn's 100 ms and 1 s ticks, the old
# 5 s fetcher and 10 s lag timers, or any new poll shorter than the heartbeat fail this.
SESSION_MS = 10_000
SHORTEST_AT_REST_S = SESSION_MS / 3 / 1000 - 0.1  # the heartbeat, less what its request took
WINDOW_S = 8.0


@dataclass
class TimerLog:
    """Delays of the timers a loop scheduled (call_later and call_at go through call_at)."""

    scheduled: list[tuple[float, str]]

    @classmethod
    def install(cls, monkeypatch: pytest.MonkeyPatch) -> TimerLog:
        loop = asyncio.get_running_loop()
        log = cls([])
        original = loop.call_at

        def call_at(when: float, callback: Any, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
            log.scheduled.append((when - loop.time(), repr(callback)[:120]))
            return original(when, callback, *args, **kwargs)

        monkeypatch.setattr(loop, "call_at", call_at)
        return log

    async def window(self) -> list[tuple[float, str]]:
        """The timers scheduled over one window, shortest first."""
        self.scheduled.clear()
        await asyncio.sleep(WINDOW_S)
        seen = sorted(t for t in self.scheduled if t[0] < WINDOW_S * 10)
        return seen[:5]


async def test_a_service_at_rest_schedules_no_timer_shorter_than_its_heartbeat(
    database_url, kafka_broker, topic_prefix, monkeypatch
):
    settings = MetricsSettings(
        database=DatabaseSettings(url=database_url),
        kafka=KafkaSettings(
            bootstrap_servers=kafka_broker.bootstrap, flavour=kafka_broker.flavour,
            topic_prefix=topic_prefix, session_timeout_ms=SESSION_MS,
        ),
    )  # fmt: skip
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        timers = TimerLog.install(monkeypatch)
        # Joining the group and the first polls schedule short timers; at rest none is left.
        shortest = await eventually(
            timers.window, lambda seen: all(delay >= SHORTEST_AT_REST_S for delay, _ in seen),
            timeout_s=WINDOW_S * 8, interval_s=0,
        )  # fmt: skip
        assert shortest, "the window saw no timer at all: the heartbeat is missing"
