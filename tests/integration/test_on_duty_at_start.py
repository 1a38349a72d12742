"""Issue 25: `rotation_on_duty` has samples right after a fresh start, not only after the next
handover (up to two weeks later). Assignment and metrics as the processes wire them, on a real
broker and Postgres: assignment announces the team on duty when it starts, metrics shows it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from services.assignment.main import AssignmentSettings
from services.assignment.main import create_app as create_assignment
from services.metrics.main import MetricsSettings
from services.metrics.main import create_app as create_metrics
from shared.clock import FixedClock
from shared.settings import DatabaseSettings, KafkaSettings
from tests.assignment_support import local
from tests.helpers import eventually
from tests.metrics_sequence import samples

# Example unit file: team-a from Monday 2026-01-05 08:00, 14 days each, then team-b, team-c.
# On Wednesday 2026-10-21 team-c has been on duty since Monday 2026-10-12 08:00, nine days.
NOW = local(2026, 10, 21, 10, 0)


def kafka(kafka_broker, topic_prefix) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=kafka_broker.bootstrap,
        flavour=kafka_broker.flavour,
        topic_prefix=topic_prefix,
        partitions=2,
        session_timeout_ms=2000 if kafka_broker.flavour == "tansu" else 10_000,
    )


@contextlib.asynccontextmanager
async def metrics_client(settings: MetricsSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_metrics(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://metrics") as client:
            yield client


def on_duty(text: str) -> dict[str, float]:
    return {
        dict(labels)["team"]: v for (name, labels), v in samples(text).items() if name == "rotation_on_duty"
    }


async def test_the_team_on_duty_has_samples_as_soon_as_assignment_and_metrics_have_started(
    kafka_broker, topic_prefix, database_url
):
    database = DatabaseSettings(url=database_url)
    assignment = create_assignment(
        AssignmentSettings(kafka=kafka(kafka_broker, topic_prefix), database=database), FixedClock(NOW)
    )
    metrics = MetricsSettings(kafka=kafka(kafka_broker, topic_prefix), database=database)
    async with metrics_client(metrics) as client:
        assert on_duty((await client.get("/metrics")).text) == {}  # nothing known before assignment runs
        async with assignment.router.lifespan_context(assignment):
            shown = await eventually(
                lambda: client.get("/metrics"), lambda r: on_duty(r.text) != {}, timeout_s=60
            )
    assert on_duty(shown.text) == {"team-a": 0.0, "team-b": 0.0, "team-c": 1.0}
    handover = samples(shown.text)[("rotation_next_handover_timestamp_seconds", ())]
    assert handover == local(2026, 10, 26, 8, 0).timestamp()  # team-a from Monday 26 October
