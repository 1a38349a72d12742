"""Real infrastructure for integration, end-to-end and reliability tests.

One Postgres server and one Kafka-protocol broker per test session (Tansu by default, Apache
Kafka with KAFKA=apache, or whatever DATABASE__URL / KAFKA__BOOTSTRAP_SERVERS point at). Each
test gets its own database and its own topic prefix, so tests never see each other's data.

Every test that can reach the broker carries the `kafka` marker, set here from what it uses
(never by a hand-kept list): the `kafka_broker` or `kafka_flavour` fixture anywhere in its
fixture closure, or a module that reads `KAFKA_FLAVOUR`. `make test KAFKA=apache` runs only
those (`-m kafka`); the Tansu pass runs everything. A test that reaches the broker only through
`request.getfixturevalue("kafka_broker")` is not visible at collection: it fails in the Tansu
pass with a message saying how to mark it, so the Apache pass cannot silently lose it.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import hypothesis
import pytest

from referral_router.devinfra.postgres import LocalPostgres
from referral_router.devinfra.procs import free_port
from referral_router.devinfra.tansu import LocalTansu
from referral_router.stack import ApacheKafka
from shared import db
from shared.settings import DatabaseSettings, KafkaSettings

# Tests never assert on timings (README): hypothesis' default 200 ms deadline per example is one,
# and it failed a property test of email composing on a machine busy with other work.
hypothesis.settings.register_profile("no-deadline", deadline=None)
hypothesis.settings.load_profile("no-deadline")

KAFKA_FLAVOUR = os.environ.get("TEST_KAFKA", "tansu")


KAFKA_MARKER = "kafka"
KAFKA_FIXTURES = frozenset({"kafka_broker", "kafka_flavour"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{KAFKA_MARKER}: reaches a Kafka-protocol broker (set automatically; the only tests the "
        "Apache pass runs)",
    )


def uses_kafka(item: pytest.Item) -> bool:
    """Whether collection shows that `item` reaches the broker."""
    if item.get_closest_marker(KAFKA_MARKER) is not None:
        return True
    if KAFKA_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    module = getattr(item, "module", None)
    return module is not None and "KAFKA_FLAVOUR" in vars(module) and module.__name__ != __name__


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if uses_kafka(item) and item.get_closest_marker(KAFKA_MARKER) is None:
            item.add_marker(KAFKA_MARKER)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail a test that asked for the broker at run time without the marker (see the docstring)."""
    result = yield
    request = getattr(item, "_request", None)
    dynamic = set(getattr(request, "fixturenames", ()))
    if KAFKA_FIXTURES & dynamic and item.get_closest_marker(KAFKA_MARKER) is None:
        pytest.fail(
            f"{item.nodeid} reached the Kafka broker through request.getfixturevalue but carries no "
            "'kafka' marker, so `make test KAFKA=apache` would leave it out: request the "
            "kafka_broker fixture as a parameter, or mark the test (or its parameter) "
            "with pytest.mark.kafka",
            pytrace=False,
        )
    return result


# The consumer session of the service processes the tests start. Tansu holds a new member's
# first join for about half the session timeout (shared/settings.py), so at the default 10 s
# every service start and restart waits 5 s; Apache Kafka hands a SIGKILLed member's partitions
# on only when its session expires. deploy/kafka/kafka.sh lowers Apache Kafka's floor
# (`group.min.session.timeout.ms`, 6 s by default), so this holds for a broker the tests start;
# an external one (KAFKA__BOOTSTRAP_SERVERS) keeps the services' default.
SERVICE_SESSION_TIMEOUT_MS = 3000


@dataclass
class Broker:
    bootstrap: str
    flavour: str
    handle: LocalTansu | ApacheKafka | None

    @property
    def session_timeout_ms(self) -> int:
        """The consumer session for services the tests run, in process or as processes."""
        if self.flavour == "apache" and self.handle is None:
            return int(KafkaSettings.model_fields["session_timeout_ms"].default)
        return SERVICE_SESSION_TIMEOUT_MS

    def service_env(self) -> dict[str, str]:
        """Settings for service processes on this broker (`ServiceConfig.extra_env`)."""
        return {"KAFKA__SESSION_TIMEOUT_MS": str(self.session_timeout_ms)}


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Postgres server URL (maintenance database)."""
    external = os.environ.get("DATABASE__URL")
    if external:
        yield external
        return
    root = tmp_path_factory.mktemp("pg")
    server = LocalPostgres(root / "data", free_port(), fsync=False, log_path=root / "postgres.log")
    try:
        yield server.start()
    finally:
        server.stop("fast")


@pytest.fixture(scope="session")
def kafka_flavour() -> str:
    """The broker flavour under test (`tansu` or `apache`); requesting it marks the test `kafka`."""
    return KAFKA_FLAVOUR


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A running Kafka-protocol broker."""
    external = os.environ.get("KAFKA__BOOTSTRAP_SERVERS")
    if external:
        yield Broker(external, KAFKA_FLAVOUR, None)
        return
    root = tmp_path_factory.mktemp("kafka")
    handle: LocalTansu | ApacheKafka
    if KAFKA_FLAVOUR == "apache":
        handle = ApacheKafka(root / "apache")
    else:
        handle = LocalTansu(free_port(), root / "tansu.log")
    try:
        yield Broker(handle.start(), KAFKA_FLAVOUR, handle)
    finally:
        handle.stop()


async def create_database(server_url: str, name: str) -> str:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
async def database_url(postgres_server: str) -> AsyncIterator[str]:
    """A fresh, empty database for one test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = await create_database(postgres_server, name)
    yield url
    await drop_database(postgres_server, name)


async def drop_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def migrated_pool(
    server_url: str, migrations: str, schema: str = "contract"
) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a fresh database of its own, `migrations` applied to `schema`; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = await create_database(server_url, name)
    pool = await db.create_pool(DatabaseSettings(url=url), schema)
    try:
        await db.apply_migrations(pool, schema, migrations)
        yield pool
    finally:
        await pool.close()
        await drop_database(server_url, name)


@pytest.fixture
def topic_prefix() -> str:
    """A topic and consumer-group prefix of one test's own."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
