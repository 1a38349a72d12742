"""The metrics service: exact values from a known sequence of events, again after a restart."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from services.metrics.main import MetricsSettings, create_app
from shared.events import encode_event, event_key
from shared.settings import DatabaseSettings, KafkaSettings
from tests.helpers import eventually, produce
from tests.metrics_sequence import EXPECTED, SEQUENCE, samples


@contextlib.asynccontextmanager
async def metrics_app(settings: MetricsSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://metrics") as client:
            yield client


async def produce_all(settings: MetricsSettings, events: list[tuple[str, Any]]) -> None:
    for topic, envelope in events:
        await produce(
            settings.kafka.bootstrap_servers,
            settings.kafka.topic(topic),
            [(event_key(envelope), encode_event(envelope))],
        )


@pytest.fixture
def settings(kafka_broker, topic_prefix, database_url) -> MetricsSettings:
    return MetricsSettings(
        kafka=KafkaSettings(
            bootstrap_servers=kafka_broker.bootstrap,
            flavour=kafka_broker.flavour,
            topic_prefix=topic_prefix,
            partitions=2,
            session_timeout_ms=kafka_broker.session_timeout_ms,
        ),
        database=DatabaseSettings(url=database_url),
    )


async def test_every_domain_metric_has_its_exact_value_and_keeps_it_after_a_restart(settings, database_url):
    # The status updates first: topics have no order between them, and a consumer catching up
    # may well read a case's action before its assignment.
    updates = [(t, e) for t, e in SEQUENCE if t == "referrals.updated.v1"]
    others = [(t, e) for t, e in SEQUENCE if t != "referrals.updated.v1"]
    async with metrics_app(settings) as client:
        conn = await asyncpg.connect(database_url, server_settings={"search_path": "metrics"})
        try:
            await produce_all(settings, updates)
            await eventually(lambda: conn.fetchval("SELECT count(*) FROM inbox"), lambda n: n == len(updates))
            early = samples((await client.get("/metrics")).text)
            # Cases whose assignment has not been read yet are in no team's figures.
            assert not [key for key in early if key[0] == "referrals_open"]
            assert {v for key, v in early.items() if key[0] == "caseload_weighted"} == {0.0}
            await produce_all(settings, others)
            await eventually(
                lambda: conn.fetchval("SELECT count(*) FROM inbox"), lambda n: n == len(SEQUENCE)
            )
        finally:
            await conn.close()
        before = samples((await client.get("/metrics")).text)
    for key, value in EXPECTED.items():
        assert before.get(key) == pytest.approx(value), key
    assert before[("caseload_imbalance_ratio", (("team", "team-c"),))] == 1.0  # nobody there carries any

    async with metrics_app(settings) as client:
        after = samples((await client.get("/metrics")).text)
    for key, value in EXPECTED.items():
        assert after.get(key) == pytest.approx(value), key


def test_no_metric_label_can_carry_a_referral_or_client_id():
    assert not any(
        v.startswith(("R", "f", "c")) and v[1:].isdigit() for _, labels in EXPECTED for _, v in labels
    )
