"""Helpers for the intake tests (no tests here): an in-process intake app on real infrastructure."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
from pydantic import SecretStr

from services.intake.main import CryptoSettings, IntakeSettings, PortalSettings, create_app
from shared.clock import Clock, SystemClock
from shared.settings import DatabaseSettings, KafkaSettings, OutboxSettings
from tests.factories import encode
from tests.helpers import signed_headers

KEY_1 = base64.b64encode(bytes(range(32))).decode()
KEY_2 = base64.b64encode(bytes(range(32, 64))).decode()
CLIENTS = {"dev-portal": [SecretStr("old-portal-secret"), SecretStr("dev-portal-secret")]}


def intake_settings(
    database_url: str,
    broker: Any,
    prefix: str,
    *,
    keys: dict[str, str] | None = None,
    current_key: str = "k1",
    **extra: Any,
) -> IntakeSettings:
    """Settings for an intake bound to a test's database, broker and topic prefix."""
    return IntakeSettings(
        database=DatabaseSettings(url=SecretStr(database_url), connect_timeout_s=2),
        kafka=KafkaSettings(bootstrap_servers=broker.bootstrap, flavour=broker.flavour, topic_prefix=prefix),
        outbox=OutboxSettings(poll_interval_s=0.2),
        portal=PortalSettings(clients=CLIENTS),
        crypto=CryptoSettings(
            keys={k: SecretStr(v) for k, v in (keys or {"k1": KEY_1}).items()},
            current_key=current_key,
            pepper=SecretStr("test-pepper"),
        ),
        **extra,
    )


@asynccontextmanager
async def running_intake(
    settings: IntakeSettings, clock: Clock | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The intake app with its lifespan (pool, migrations, topics, relay) and a client for it."""
    app = create_app(settings, clock or SystemClock())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake", timeout=30) as client:
            yield client


async def post(client: httpx.AsyncClient, body: dict[str, Any] | bytes, **sign: Any) -> httpx.Response:
    """POST a body signed as the dev portal (or as `sign` says)."""
    raw = body if isinstance(body, bytes) else encode(body)
    return await client.post("/v1/referrals", content=raw, headers=signed_headers(raw, **sign))


async def intake_db(database_url: str) -> asyncpg.Connection:
    """A connection that sees intake's schema."""
    return await asyncpg.connect(database_url, server_settings={"search_path": "intake"})


async def counts(database_url: str) -> dict[str, int]:
    """Rows in each of intake's tables."""
    conn = await intake_db(database_url)
    try:
        return {
            t: await conn.fetchval(f"SELECT count(*) FROM {t}")
            for t in ("submissions", "personal_details", "referrals", "outbox")
        }
    finally:
        await conn.close()
