"""A record that can never be handled, in every consumer's topic among 1,000 good ones (issue 24).

Before, one signed request with `submitted_at` in year 1 stalled assignment for part of all new
referrals: the record was re-read forever, never dead-lettered, and nothing showed it. Now every
consumer tries such a record a bounded number of times and dead-letters it once; the good records
around it are all handled. The alert on dead letters is promtool-tested
(deploy/prometheus/tests/referral-router.test.yml, DeadLetters); here the counter it reads is
checked on each service's /metrics.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from shared.events import (
    TOPIC_DEADLETTER,
    TOPIC_DEADLINES,
    TOPIC_NOTIFICATIONS,
    TOPIC_RECEIVED,
    DeadlineEvent,
    encode_event,
    event_key,
    new_envelope,
)
from tests.helpers import eventually, read_topic
from tests.wire import received_event

GOOD = 1000
# The last instant Python can hold: any arithmetic towards Stockholm time overflows.
END_OF_TIME = datetime(9999, 12, 31, 23, 30, tzinfo=UTC)


async def send(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> list[tuple[int, int]]:
    """Produce the records in order; their (partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        sent = [await producer.send_and_wait(topic, value=value, key=key) for key, value in records]
    finally:
        await producer.stop()
    return [(m.partition, m.offset) for m in sent]


async def count(stack, schema: str, sql: str) -> int:
    conn = await stack.db(schema)
    try:
        value: int = await conn.fetchval(sql)
        return value
    finally:
        await conn.close()


def dead_letters_counted(text: str) -> dict[str, float]:
    return {
        s.labels["topic"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "deadletters_total"
    }


async def test_a_poison_record_in_each_consumers_topic_is_dead_lettered_once_and_every_good_one_handled(
    stack,
):
    run = uuid.uuid4().hex[:6]
    now = datetime.now(UTC) - timedelta(minutes=5)
    good = [
        received_event(f"R-good-{run}-{i}", family_key=f"f-{run}-{i}", received_at=now) for i in range(GOOD)
    ]
    # Valid by contract, impossible to handle: assignment cannot place its receipt in local time.
    poison_referral = received_event(f"R-poison-{run}", family_key=f"f-{run}-poison", received_at=END_OF_TIME)
    # Valid by contract, impossible to tell anyone: its due time cannot be shown in local time.
    poison_deadline = new_envelope(
        "deadline.breached",
        DeadlineEvent(
            referral_id=f"R-poison-{run}", family_key=f"f-{run}-poison", deadline="preliminary_assessment",
            due_at=END_OF_TIME, team="team-a", caseworker="cw-a1",
        ),
        producer="assignment", correlation_id=f"R-poison-{run}",
    )  # fmt: skip
    records = [(event_key(e), encode_event(e)) for e in good]
    half = GOOD // 2
    bootstrap = stack.broker.bootstrap
    await send(bootstrap, stack.topic(TOPIC_RECEIVED), records[:half])
    [referral_at] = await send(
        bootstrap, stack.topic(TOPIC_RECEIVED), [(event_key(poison_referral), encode_event(poison_referral))]
    )
    [deadline_at] = await send(
        bootstrap, stack.topic(TOPIC_DEADLINES), [(event_key(poison_deadline), encode_event(poison_deadline))]
    )
    # Not even JSON, on the topic only metrics reads.
    [garbage_at] = await send(bootstrap, stack.topic(TOPIC_NOTIFICATIONS), [(b"x", b"\xff\xfe not json")])
    await send(bootstrap, stack.topic(TOPIC_RECEIVED), records[half:])

    ours = f"referral_id LIKE 'R-good-{run}-%'"
    await eventually(
        lambda: count(stack, "assignment", f"SELECT count(*) FROM assignments WHERE {ours}"),
        lambda n: n == GOOD,
        timeout_s=240,
    )
    await eventually(
        lambda: count(
            stack, "notifications", f"SELECT count(DISTINCT referral_id) FROM deliveries WHERE {ours}"
        ),
        lambda n: n == GOOD,
        timeout_s=240,
    )
    await eventually(
        lambda: count(stack, "metrics", f"SELECT count(*) FROM received WHERE {ours}"),
        lambda n: n == GOOD,
        timeout_s=240,
    )

    expected = {
        ("assignment", TOPIC_RECEIVED, *referral_at),
        ("notifications", TOPIC_DEADLINES, *deadline_at),
        ("metrics", TOPIC_NOTIFICATIONS, *garbage_at),
    }
    letters = await read_topic(bootstrap, stack.topic(TOPIC_DEADLETTER), expect=len(expected), timeout_s=120)
    seen = Counter(
        (d["consumer"], d["topic"], d["partition"], d["offset"])
        for d in (value["data"] for _, value, _, _ in letters)
    )
    assert set(seen) >= expected  # each consumer's poison ...
    assert all(seen[letter] == 1 for letter in expected)  # ... once
    poisons = {(topic, p, o) for _, topic, p, o in expected}
    assert {(topic, p, o) for _, topic, p, o in seen} <= poisons  # and no good record

    async with httpx.AsyncClient(timeout=10) as client:
        for service, topic in [("assignment", TOPIC_RECEIVED), ("notifications", TOPIC_DEADLINES),
                               ("metrics", TOPIC_NOTIFICATIONS)]:  # fmt: skip
            text = (await client.get(stack.services.url(service, "/metrics"))).text
            assert dead_letters_counted(text).get(topic, 0) >= 1, service
            ready = (await client.get(stack.services.url(service, "/readyz"))).json()
            assert ready["status"] == "ready" and ready["consumer"]["state"] == "ok", (service, ready)
