"""Real infrastructure for integration, end-to-end and reliability tests.

One Postgres server and one Kafka-protocol broker per test session (Tansu by default, Apache
Kafka with KAFKA=apache, or whatever DATABASE__URL / KAFKA__BOOTSTRAP_SERVERS point at). Each
test gets its own database and its own topic prefix, so tests never see each other's data.
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
from shared.settings import DatabaseSettings

# Tests never assert on timings (README): hypothesis' default 200 ms deadline per example is one,
# and it failed a property test of email composing on a machine busy with other work.
hypothesis.settings.register_profile("no-deadline", deadline=None)
hypothesis.settings.load_profile("no-deadline")

KAFKA_FLAVOUR = os.environ.get("TEST_KAFKA", "tansu")


@dataclass
class Broker:
    bootstrap: str
    flavour: str
    handle: LocalTansu | ApacheKafka | None


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
