"""The two limits the pipeline stands on, measured bare on the same Postgres and broker.

- Kafka: raw aiokafka produce -> consume of messages the size of a `referrals.received.v1`
  event, with our producer settings (acks=all, linger 2 ms, idempotence as on our broker) and
  our partition count. Throughput with the producer pipelining freely; round-trip latency
  open-loop at 50 and 200 messages/s.
- Postgres: bare asyncpg inserts of the rows intake writes for one referral (submission,
  encrypted details, referral, outbox row; copies of real rows), one transaction per referral
  as intake does, on 1 connection and on 10 (the services' default pool size).

Run alone (against running servers): `python -m bench.baselines DATABASE_URL BOOTSTRAP`.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import time
import uuid
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.settings import KafkaSettings

KAFKA_THROUGHPUT_MESSAGES = 20_000
KAFKA_LATENCY_RATES = (50.0, 200.0)
KAFKA_LATENCY_S = 10.0
PG_TRANSACTIONS = 2_000
PG_CONCURRENCY = (1, 10)
INTAKE_TABLES = ("submissions", "personal_details", "referrals", "outbox")


def _quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def q(p: float) -> float:
        return ordered[max(0, min(len(ordered) - 1, round(p * len(ordered) + 0.5) - 1))]

    return {"p50_ms": q(0.5) * 1000, "p95_ms": q(0.95) * 1000, "p99_ms": q(0.99) * 1000}


# ---------------------------------------------------------------- Kafka


async def _topic(bootstrap: str, partitions: int) -> str:
    name = f"bench.baseline.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
    return name


def _producer(bootstrap: str, flavour: str) -> AIOKafkaProducer:
    settings = KafkaSettings(bootstrap_servers=bootstrap, flavour=flavour)  # type: ignore[arg-type]
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=settings.idempotent_producer, linger_ms=2
    )


async def _consumer(bootstrap: str, topic: str, partitions: int) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    await consumer.seek_to_beginning()
    return consumer


async def _consume(
    consumer: AIOKafkaConsumer, count: int, arrived: dict[int, float], timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while len(arrived) < count and time.monotonic() < deadline:
        batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
        now = time.perf_counter()
        for records in batches.values():
            for record in records:
                arrived.setdefault(int.from_bytes(record.value[:8], "big"), now)


def _message(i: int, size: int) -> bytes:
    return i.to_bytes(8, "big") + b"x" * max(0, size - 8)


async def kafka_throughput(
    bootstrap: str, flavour: str, sizes: dict[str, float], partitions: int
) -> dict[str, Any]:
    """Messages/s from the first send to the last message consumed, producer pipelining freely."""
    topic = await _topic(bootstrap, partitions)
    consumer = await _consumer(bootstrap, topic, partitions)
    producer = _producer(bootstrap, flavour)
    await producer.start()
    arrived: dict[int, float] = {}
    size, key = round(sizes["payload"]), b"k" * round(sizes["key"])
    try:
        reading = asyncio.create_task(_consume(consumer, KAFKA_THROUGHPUT_MESSAGES, arrived, 120))
        began = time.perf_counter()
        futures = []
        for i in range(KAFKA_THROUGHPUT_MESSAGES):
            # Keys spread records over the partitions, as family keys spread ours.
            futures.append(await producer.send(topic, _message(i, size), key=key + str(i).encode()))
        await asyncio.gather(*futures)
        await reading
    finally:
        await producer.stop()
        await consumer.stop()
    elapsed = max(arrived.values()) - began
    return {"messages": len(arrived), "per_s": len(arrived) / elapsed, "bytes": size}


async def kafka_latency(
    bootstrap: str, flavour: str, sizes: dict[str, float], partitions: int, rate: float
) -> dict[str, Any]:
    """Open-loop sends at `rate`; send-to-consume round trip per message."""
    topic = await _topic(bootstrap, partitions)
    consumer = await _consumer(bootstrap, topic, partitions)
    producer = _producer(bootstrap, flavour)
    await producer.start()
    count = round(rate * KAFKA_LATENCY_S)
    sent: dict[int, float] = {}
    arrived: dict[int, float] = {}
    size, key = round(sizes["payload"]), b"k" * round(sizes["key"])
    try:
        reading = asyncio.create_task(_consume(consumer, count, arrived, KAFKA_LATENCY_S + 60))
        start = time.perf_counter() + 0.1
        futures = []
        for i in range(count):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[i] = start + i / rate
            futures.append(await producer.send(topic, _message(i, size), key=key + str(i).encode()))
        await asyncio.gather(*futures)
        await reading
    finally:
        await producer.stop()
        await consumer.stop()
    return {"rate": rate, "messages": len(arrived), **_quantiles([arrived[i] - sent[i] for i in arrived])}


# ---------------------------------------------------------------- Postgres


async def _baseline_schema(conn: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    """Empty copies of intake's tables and one real row of each to copy from."""
    await conn.execute("DROP SCHEMA IF EXISTS baseline CASCADE; CREATE SCHEMA baseline")
    templates: dict[str, asyncpg.Record] = {}
    submission_id = await conn.fetchval(
        "SELECT submission_id FROM intake.referrals GROUP BY submission_id HAVING count(*) = 1 LIMIT 1"
    )
    for table in INTAKE_TABLES:
        await conn.execute(f"CREATE TABLE baseline.{table} (LIKE intake.{table} INCLUDING ALL)")
        where = "payload IS NOT NULL ORDER BY id LIMIT 1" if table == "outbox" else "submission_id = $1"
        args = () if table == "outbox" else (submission_id,)
        row = await conn.fetchrow(f"SELECT * FROM intake.{table} WHERE {where}", *args)
        assert row is not None, table
        templates[table] = row
    return templates


def _statements(templates: dict[str, asyncpg.Record]) -> list[tuple[str, list[str]]]:
    out = []
    for table, row in templates.items():
        columns = [c for c in row.keys() if not (table == "outbox" and c == "id")]  # noqa: SIM118 - a Record
        marks = ", ".join(f"${i + 1}" for i in range(len(columns)))
        out.append((f"INSERT INTO baseline.{table} ({', '.join(columns)}) VALUES ({marks})", columns))
    return out


def _values(table: str, row: asyncpg.Record, columns: list[str], n: int) -> list[Any]:
    fresh = {
        "submission_id": f"baseline-{n}",
        "referral_id": f"R-B{n:011d}",
        "event_id": uuid.uuid4(),
        "portal_key": hashlib.sha256(b"baseline-%d" % n).digest(),  # as intake's HMAC, unique
    }
    return [fresh[c] if c in fresh else row[c] for c in columns]


async def postgres_inserts(database_url: str, concurrency: int) -> dict[str, Any]:
    """One transaction per referral with intake's four rows; `concurrency` connections."""
    setup = await asyncpg.connect(database_url)
    try:
        templates = await _baseline_schema(setup)
    finally:
        await setup.close()
    statements = _statements(templates)
    pool = await asyncpg.create_pool(database_url, min_size=concurrency, max_size=concurrency)
    assert pool is not None
    latencies: list[float] = []
    counter = iter(range(PG_TRANSACTIONS))

    async def worker() -> None:
        async with pool.acquire() as conn:
            for n in counter:
                began = time.perf_counter()
                async with conn.transaction():
                    for (sql, columns), (table, row) in zip(statements, templates.items(), strict=True):
                        await conn.execute(sql, *_values(table, row, columns, n))
                latencies.append(time.perf_counter() - began)

    try:
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    finally:
        await pool.close()
    return {"concurrency": concurrency, "transactions": len(latencies), "per_s": len(latencies) / elapsed,
            **_quantiles(latencies)}  # fmt: skip


async def run_all(database_url: str, bootstrap: str, flavour: str, sizes: dict[str, float]) -> dict[str, Any]:
    """Every baseline, one after the other (nothing else of ours is running)."""
    partitions = KafkaSettings().partitions
    kafka = {"throughput": await kafka_throughput(bootstrap, flavour, sizes, partitions), "latency": []}
    for rate in KAFKA_LATENCY_RATES:
        kafka["latency"].append(await kafka_latency(bootstrap, flavour, sizes, partitions, rate))
    postgres = [await postgres_inserts(database_url, c) for c in PG_CONCURRENCY]
    return {"kafka": kafka, "postgres": postgres, "partitions": partitions}


if __name__ == "__main__":
    import json

    url, servers = sys.argv[1], sys.argv[2]
    flavour = sys.argv[3] if len(sys.argv) > 3 else "tansu"
    print(json.dumps(asyncio.run(run_all(url, servers, flavour, {"payload": 1000, "key": 40})), indent=1))
