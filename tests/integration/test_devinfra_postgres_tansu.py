"""LocalPostgres and LocalTansu start real servers on free 127.0.0.1 ports."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from referral_router.devinfra.postgres import LocalPostgres
from referral_router.devinfra.procs import free_port, spawn, stop_process, wait_for_port
from referral_router.devinfra.tansu import LocalTansu

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[LocalPostgres]:
    server = LocalPostgres(tmp_path / "pgdata", free_port(), fsync=False)
    try:
        yield server
    finally:
        server.stop("immediate")


@pytest.fixture
def tansu(tmp_path: Path) -> Iterator[LocalTansu]:
    broker = LocalTansu(free_port(), tmp_path / "tansu.log")
    try:
        yield broker
    finally:
        broker.stop()


async def _scalar(url: str, sql: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def _execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.mark.asyncio
async def test_postgres_keeps_committed_rows_across_an_immediate_stop_and_restart(
    postgres: LocalPostgres,
) -> None:
    url = postgres.start()
    await _execute(url, "CREATE TABLE referral (id int PRIMARY KEY); INSERT INTO referral VALUES (7)")
    first_pid = postgres.pid

    postgres.stop("immediate")
    stopped = not postgres.is_running()
    assert postgres.start() == url

    assert stopped
    assert postgres.pid != first_pid
    assert await _scalar(url, "SELECT id FROM referral") == 7


@pytest.mark.asyncio
async def test_postgres_keeps_committed_rows_after_a_hard_kill(postgres: LocalPostgres) -> None:
    url = postgres.start()
    await _execute(url, "CREATE TABLE referral (id int); INSERT INTO referral VALUES (1), (2)")

    postgres.kill()
    postgres.start()

    assert await _scalar(url, "SELECT count(*) FROM referral") == 2


@pytest.mark.asyncio
async def test_postgres_create_database_gives_a_separate_database(postgres: LocalPostgres) -> None:
    postgres.start()

    url = postgres.create_database("isolated_one")

    assert url.endswith("/isolated_one")
    assert await _scalar(url, "SELECT current_database()") == "isolated_one"
    postgres.drop_database("isolated_one")
    with pytest.raises(asyncpg.InvalidCatalogNameError):
        await _scalar(url, "SELECT 1")


def test_postgres_rejects_a_database_name_that_is_not_a_plain_identifier(
    postgres: LocalPostgres,
) -> None:
    with pytest.raises(ValueError, match="invalid database name"):
        postgres.create_database('x"; DROP DATABASE postgres; --')


def test_postgres_cli_serves_in_the_foreground_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "referral_router.devinfra.postgres",
            "--data-dir", str(tmp_path / "pgdata"), "--port", str(port), "--no-fsync"]  # fmt: skip
    proc = spawn("postgres-cli", argv, tmp_path / "cli.log", cwd=REPO_ROOT)
    try:
        wait_for_port("127.0.0.1", port, 60, name="postgres CLI", proc=proc)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        stop_process(proc)

    assert code == 0
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists()


async def _produce_and_consume_one(bootstrap: str, topic: str) -> bytes:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"referral-received")
    finally:
        await producer.stop()
    # Manual assignment skips the consumer-group join, which takes seconds.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        record = await asyncio.wait_for(consumer.getone(), timeout=20)
        return bytes(record.value)
    finally:
        await consumer.stop()


@pytest.mark.asyncio
async def test_tansu_accepts_a_topic_and_round_trips_one_message(tansu: LocalTansu) -> None:
    bootstrap = tansu.start()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("referrals", num_partitions=1, replication_factor=1)])
        topics = await admin.list_topics()
    finally:
        await admin.close()

    value = await _produce_and_consume_one(bootstrap, "referrals")

    assert bootstrap == f"127.0.0.1:{tansu.port}"
    assert "referrals" in topics
    assert value == b"referral-received"


def test_tansu_stop_ends_the_broker_and_a_new_one_starts_on_the_same_port(tansu: LocalTansu) -> None:
    tansu.start()
    first_pid = tansu.pid

    tansu.kill()
    killed = not tansu.is_running()
    tansu.start()

    assert killed
    assert tansu.is_running()
    assert tansu.pid != first_pid


def test_postgres_start_fails_fast_with_its_log_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        server = LocalPostgres(tmp_path / "pgdata", squatter.getsockname()[1], fsync=False)
        try:
            with pytest.raises(RuntimeError, match=r"(?s)exited with code.*could not"):
                server.start(timeout_s=30)
        finally:
            server.stop()


def test_tansu_start_fails_fast_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        broker = LocalTansu(squatter.getsockname()[1], tmp_path / "tansu.log")
        try:
            with pytest.raises(RuntimeError, match="is in use"):
                broker.start(timeout_s=30)
        finally:
            broker.stop()


def test_a_stale_lock_file_naming_someone_elses_process_is_never_treated_as_our_server(
    tmp_path: Path,
) -> None:
    # After a crash postmaster.pid stays behind, and pids are reused: killing "our server" must
    # never kill whatever process now has that pid.
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        data_dir = tmp_path / "pgdata"
        data_dir.mkdir()
        (data_dir / "postmaster.pid").write_text(f"{stranger.pid}\n{data_dir}\n")
        server = LocalPostgres(data_dir, free_port(), fsync=False)
        assert not server.is_running()
        server.stop("immediate")
        server.kill()
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()
