"""The access log in real Postgres: append-only for the role that owns intake's schema, and
`referral-router verify-access-log` finding a row changed or deleted behind the application's back."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from services.intake.adapters.postgres import PostgresIntakeUnitOfWork
from services.intake.adapters.postgres_access_log import logged_entry
from services.intake.domain.access_chain import chained
from services.intake.domain.access_log import AccessAction, AccessEntry, AccessRelation, Outcome
from shared import db
from shared.settings import DatabaseSettings
from tests.conftest import create_database, drop_database

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def entry(n: int) -> AccessEntry:
    return AccessEntry(
        at=T0 + timedelta(minutes=n), staff="cw-a1", role="caseworker", relation=AccessRelation.ASSIGNED,
        referral_id=f"R-{n}", child_key=f"c-{n}", action=AccessAction.READ, reason=None,
        outcome=Outcome.ALLOWED, client_addr="10.0.0.1", request_id=f"req-{n}",
    )  # fmt: skip


async def write_log(pool: asyncpg.Pool, rows: int) -> None:
    for n in range(rows):
        async with PostgresIntakeUnitOfWork(pool) as uow:
            await uow.access_log.append(entry(n))
            await uow.commit()


@pytest.fixture
async def owner_url(postgres_server: str) -> AsyncIterator[str]:
    """A fresh database, and a URL to it as a login role without superuser rights that may create
    schemas in it (as a production deployment's migration role)."""
    name, role = f"t_{uuid.uuid4().hex[:12]}", f"intake_owner_{uuid.uuid4().hex[:8]}"
    url = await create_database(postgres_server, name)
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
        await admin.execute(f'GRANT CREATE, CONNECT ON DATABASE "{name}" TO {role}')
    finally:
        await admin.close()
    scheme, rest = url.split("://", 1)
    yield f"{scheme}://{role}@{rest.split('@', 1)[-1]}"
    await drop_database(postgres_server, name)
    admin = await asyncpg.connect(postgres_server)
    try:
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
    finally:
        await admin.close()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE access_log SET staff = 'someone-else' WHERE seq = 1",
        "DELETE FROM access_log WHERE seq = 1",
        "TRUNCATE access_log",
    ],
)
async def test_the_role_that_owns_the_schema_cannot_change_or_remove_log_rows(owner_url, statement):
    pool = await db.create_pool(DatabaseSettings(url=owner_url), "intake")
    try:
        await db.apply_migrations(pool, "intake", "services.intake.migrations")
        await write_log(pool, 2)
        assert await pool.fetchval("SELECT current_setting('is_superuser')") == "off"
        assert (
            await pool.fetchval("SELECT tableowner FROM pg_tables WHERE tablename = 'access_log'")
            == (owner_url.split("://", 1)[1].split("@", 1)[0])
        )

        # Refused by the privileges (not only by the triggers, which a superuser can switch off).
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await pool.execute(statement)

        assert await pool.fetchval("SELECT count(*) FROM access_log") == 2
        async with PostgresIntakeUnitOfWork(pool) as uow:  # appending still works
            await uow.access_log.append(entry(2))
            await uow.commit()
    finally:
        await pool.close()


async def test_the_triggers_refuse_changes_even_to_a_superuser(database_url):
    pool = await db.create_pool(DatabaseSettings(url=database_url), "intake")
    try:
        await db.apply_migrations(pool, "intake", "services.intake.migrations")
        await write_log(pool, 1)
        for statement in (
            "UPDATE access_log SET reason = 'x'",
            "DELETE FROM access_log",
            "TRUNCATE access_log",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await pool.execute(statement)
    finally:
        await pool.close()


def verify(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`referral-router verify-access-log` against the database, as an operator runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE")}
    env |= {"DATABASE__URL": database_url, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "referral_router.cli", "verify-access-log", *args],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
async def logged(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A migrated database with five log rows, and a superuser connection to it."""
    pool = await db.create_pool(DatabaseSettings(url=database_url), "intake")
    try:
        await db.apply_migrations(pool, "intake", "services.intake.migrations")
        await write_log(pool, 5)
    finally:
        await pool.close()
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "intake"})
    try:
        yield conn
    finally:
        await conn.close()


async def behind_the_triggers(conn: asyncpg.Connection, statement: str) -> None:
    """What a superuser can do: switch the triggers off for the session and change the table."""
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(statement)


async def test_verify_access_log_passes_an_intact_log(logged, database_url):
    done = verify(database_url)
    assert done.returncode == 0, done.stderr
    assert "intact: 5 rows" in done.stdout


async def test_verify_access_log_names_the_first_altered_row_by_seq_only(logged, database_url):
    await behind_the_triggers(logged, "UPDATE access_log SET staff = 'cw-b9' WHERE seq = 3")

    done = verify(database_url)

    assert done.returncode == 1
    assert "broken at seq 3: altered" in done.stderr
    assert "cw-b9" not in done.stderr + done.stdout


async def test_verify_access_log_finds_a_deleted_row(logged, database_url):
    await behind_the_triggers(logged, "DELETE FROM access_log WHERE seq = 2")

    done = verify(database_url)

    assert done.returncode == 1
    assert "broken at seq 2: missing" in done.stderr


async def test_verify_access_log_finds_rows_swapped_in_order(logged, database_url):
    await behind_the_triggers(
        logged, "UPDATE access_log SET seq = CASE seq WHEN 4 THEN 40 ELSE seq END WHERE seq = 4"
    )
    await behind_the_triggers(logged, "UPDATE access_log SET seq = 4 WHERE seq = 5")
    await behind_the_triggers(logged, "UPDATE access_log SET seq = 5 WHERE seq = 40")

    done = verify(database_url)

    assert done.returncode == 1
    assert "broken at seq 4: altered" in done.stderr


async def _anchor(conn: asyncpg.Connection, seq: int) -> str:
    """`SEQ:HASH` of a row as the monthly review hands it to the head of unit."""
    digest = await conn.fetchval("SELECT hash FROM access_log WHERE seq = $1", seq)
    return f"{seq}:{bytes(digest).hex()}"


async def test_rows_cut_off_the_end_pass_the_chain_but_not_its_anchor(logged, database_url):
    anchor = await _anchor(logged, 5)
    await behind_the_triggers(logged, "DELETE FROM access_log WHERE seq >= 4")

    alone, anchored = verify(database_url), verify(database_url, "--anchor", anchor)

    assert alone.returncode == 0, alone.stderr  # what the chain alone cannot show
    assert anchored.returncode == 1
    assert "broken at seq 4: missing" in anchored.stderr


async def test_a_chain_rewritten_consistently_from_a_row_on_fails_its_anchor(logged, database_url):
    anchor = await _anchor(logged, 5)
    rows = [logged_entry(r) for r in await logged.fetch("SELECT * FROM access_log ORDER BY seq")]
    forged = chained(rows[2], dataclasses.replace(rows[3].entry, staff="cw-b9"))
    tail = chained(forged, rows[4].entry)
    for row in (forged, tail):
        await behind_the_triggers(
            logged,
            f"UPDATE access_log SET staff = '{row.entry.staff}', prev_hash = '\\x{row.prev_hash.hex()}',"
            f" hash = '\\x{row.hash.hex()}' WHERE seq = {row.seq}",
        )

    alone, anchored = verify(database_url), verify(database_url, "--anchor", anchor)

    assert alone.returncode == 0, alone.stderr
    assert anchored.returncode == 1
    assert "broken at seq 5: altered" in anchored.stderr


def test_an_anchor_that_is_not_seq_and_hash_is_refused_by_name(database_url):
    done = verify(database_url, "--anchor", "5:abc")
    assert done.returncode == 2
    assert "SEQ:HASH" in done.stderr
