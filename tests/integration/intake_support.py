"""Helpers for the intake tests (no tests here): an in-process intake app on real infrastructure,
and the fake Open ePlatform portal as a process."""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from pydantic import SecretStr

from referral_router.devinfra.procs import free_port, spawn, wait_for_http
from services.intake.main import CryptoSettings, IntakeSettings, PortalSettings, create_app
from shared.clock import Clock, SystemClock
from shared.settings import DatabaseSettings, HttpSettings, KafkaSettings, OutboxSettings
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
        kafka=KafkaSettings(
            bootstrap_servers=broker.bootstrap,
            flavour=broker.flavour,
            topic_prefix=prefix,
            # Each test starts its own intake, whose consumers join their group first: on Tansu
            # that join takes half the session timeout (shared/settings.py).
            session_timeout_ms=2000 if broker.flavour == "tansu" else 10_000,
        ),
        outbox=OutboxSettings(poll_interval_s=0.2),
        http=HttpSettings(api_docs=True),
        # The Open ePlatform fixtures were submitted in November 2026: the longest allowed age
        # keeps them acceptable on the real clock for ten years.
        portal=PortalSettings(clients=CLIENTS, max_age_days=3650),
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


REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "oeplatform"
VALID, UNMAPPABLE = (1001, 1002, 1003, 1005), (1004, 1007)


class FakePortal:
    """The fake portal process, driven over HTTP."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def calls(self, op: str | None = None) -> list[dict]:
        async with httpx.AsyncClient() as client:
            calls = (await client.get(f"{self.url}/calls")).json()
        return [c for c in calls if op is None or c["op"] == op]

    async def add(self, raw: bytes) -> None:
        async with httpx.AsyncClient() as client:
            (await client.put(f"{self.url}/instances/0", content=raw)).raise_for_status()


def start_fake_portal(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], FakePortal]:
    """The fake portal serving a copy of the fixtures, started as a process."""
    fixtures = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, fixtures)
    port = free_port()
    argv = [sys.executable, "-m", "referral_router.devinfra.fake_oeplatform", "--port", str(port),
            "--fixtures", str(fixtures), *extra]  # fmt: skip
    proc = spawn("fake-oeplatform", argv, tmp_path / "fake-oeplatform.log", cwd=REPO)
    wait_for_http(f"http://127.0.0.1:{port}/healthz", 20, proc=proc)
    return proc, FakePortal(f"http://127.0.0.1:{port}")


def by_instance(calls: list[dict]) -> dict[int, list[dict]]:
    """The portal calls' parameters by instance id."""
    grouped: dict[int, list[dict]] = {}
    for call in calls:
        grouped.setdefault(call["flow_instance_id"], []).append(call["params"])
    return grouped


async def data_key_of(conn: Any, submission_id: str) -> Any:
    """The submission's data key row (`services.intake.domain.submissions.DataKey`), or None."""
    from services.intake.domain.submissions import DataKey

    row = await conn.fetchrow(
        "SELECT key_id, wrapped, destroyed_at FROM data_keys WHERE submission_id = $1", submission_id
    )
    if row is None:
        return None
    wrapped = None if row["wrapped"] is None else bytes(row["wrapped"])
    return DataKey(submission_id, row["key_id"], wrapped, row["destroyed_at"])


async def open_stored(
    conn: Any, cipher: Any, submission_id: str, key_id: str, blob: bytes, associated: bytes
) -> bytes:
    """A stored detail or document opened as intake opens it: under its submission's data key, or
    (stored before data keys) under a global key."""
    from services.intake.handlers.sealing import open_row

    return open_row(cipher, await data_key_of(conn, submission_id), key_id, bytes(blob), associated)


async def as_legacy(conn: Any, cipher: Any) -> None:
    """Turn every stored submission into one stored before data keys (migration 010): details and
    documents under the global key `cipher.current`, no data key."""
    from services.intake.domain.submissions import document_associated_data, document_name_associated_data

    for r in await conn.fetch("SELECT submission_id, key_id, ciphertext FROM personal_details"):
        sid = r["submission_id"]
        plain = await open_stored(conn, cipher, sid, r["key_id"], r["ciphertext"], sid.encode())
        key_id, blob = cipher.encrypt(plain, sid.encode())
        await conn.execute(
            "UPDATE personal_details SET key_id = $2, ciphertext = $3 WHERE submission_id = $1",
            sid,
            key_id,
            blob,
        )
    for r in await conn.fetch("SELECT submission_id, n, key_id, ciphertext, name_ciphertext FROM documents"):
        sid, at = r["submission_id"], document_associated_data(r["submission_id"], r["n"])
        plain = await open_stored(conn, cipher, sid, r["key_id"], r["ciphertext"], at)
        key_id, blob = cipher.encrypt(plain, at)
        name = r["name_ciphertext"]
        if name is not None:  # the file name the reporter gave, moved with its content
            bound = document_name_associated_data(sid, r["n"])
            _, name = cipher.encrypt(await open_stored(conn, cipher, sid, r["key_id"], name, bound), bound)
        await conn.execute(
            "UPDATE documents SET key_id = $3, ciphertext = $4, name_ciphertext = $5"
            " WHERE submission_id = $1 AND n = $2",
            sid, r["n"], key_id, blob, name,
        )  # fmt: skip
    await conn.execute("DELETE FROM data_keys")
