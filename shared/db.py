"""asyncpg pool per service schema and a migration runner for numbered SQL files."""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from importlib.resources.abc import Traversable

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from shared.settings import DatabaseSettings

# A connection as handlers see it: straight from asyncpg.connect or borrowed from a pool.
Conn = asyncpg.Connection | PoolConnectionProxy

# Errors that mean "the database is not reachable right now": retry, never dead-letter.
TRANSIENT_DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ConnectionError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    # Raised when the server dies between a statement's prepare and execute ("cannot switch to
    # state …"): that connection is dead, and a new attempt on another one is safe.
    asyncpg.exceptions._base.InternalClientError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.AdminShutdownError,
)

_MIGRATION_NAME = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")
_SCHEMA_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")

_MESSAGING_SQL = """
CREATE TABLE IF NOT EXISTS outbox (
    id            bigserial PRIMARY KEY,
    event_id      uuid NOT NULL UNIQUE,
    topic         text NOT NULL,
    key           bytea NOT NULL,
    payload       bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE TABLE IF NOT EXISTS inbox (
    message_id    text NOT NULL,
    consumer      text NOT NULL,
    handled_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
"""


async def create_pool(settings: DatabaseSettings, schema: str) -> asyncpg.Pool:
    """Open a pool whose connections see `schema` first on their search path."""
    _check_schema(schema)
    pool = await asyncpg.create_pool(
        settings.url.get_secret_value(),
        min_size=settings.min_pool_size,
        max_size=settings.max_pool_size,
        timeout=settings.connect_timeout_s,
        server_settings={
            "search_path": schema,
            "application_name": f"referral-router-{schema}",
            # Every statement here is short OLTP whose best plan does not depend on its values;
            # Postgres otherwise kept re-planning some prepared statements on every call (a team's
            # loads: 0.27 ms of planning for 0.11 ms of execution, pg_stat_statements, bench/).
            "plan_cache_mode": "force_generic_plan",
        },
        reset=_keep_session,
    )
    assert pool is not None
    return pool


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Return a connection to the pool without asyncpg's default reset query.

    The default runs `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;`, one
    more round trip on every release (a measurable share of each handled event, bench/). Our
    code leaves no session state on pooled connections: advisory locks are transaction-scoped,
    settings are `SET LOCAL`, LISTEN uses its own connection (`connect`). asyncpg still rolls
    back an open transaction before calling this.
    """


async def apply_migrations(pool: asyncpg.Pool, schema: str, package: str) -> list[str]:
    """Apply the package's numbered SQL files not yet recorded, under a lock; return the new ones.

    The advisory lock makes concurrent start-ups of several instances safe: one migrates, the
    others wait and then find nothing left to do.
    """
    _check_schema(schema)
    files = _migration_files(resources.files(package))
    applied: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_id(f"migrate:{schema}"))
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(f"SET LOCAL search_path = {schema}")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        await conn.execute(_MESSAGING_SQL)
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for name, sql in files:
            if name in done:
                continue
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", name)
            applied.append(name)
    return applied


def _migration_files(root: Traversable) -> list[tuple[str, str]]:
    found = [(e.name, e.read_text("utf-8")) for e in root.iterdir() if _MIGRATION_NAME.match(e.name)]
    return sorted(found)


def _check_schema(schema: str) -> None:
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")


def lock_id(name: str) -> int:
    """A stable signed 64-bit Postgres advisory lock id for a name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def connect(settings: DatabaseSettings, schema: str) -> asyncpg.Connection:
    """A single connection outside the pool, e.g. for LISTEN."""
    _check_schema(schema)
    conn: asyncpg.Connection = await asyncpg.connect(
        settings.url.get_secret_value(),
        timeout=settings.connect_timeout_s,
        server_settings={"search_path": schema},
    )
    return conn
