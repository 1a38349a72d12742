"""The Open ePlatform poller against the fake portal (its own process) serving the real
documents (tests/fixtures/oeplatform/real/), on real Postgres: list → fetch → map → store →
callback end to end. The first list answer is a status document (a counted failed round, then a
longer pause, and no crash); the second is the recorded Latin-1 list without an XML declaration;
one listed instance is purged (404), one is purged between fetch and callback (the real "was not
found" fault), one has two attachments, one fails the mapping: it is kept raw (encrypted),
alerted, rejected in the portal, and imported by `oep_remap` after the mapping is fixed, without
a second referral."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
from contextlib import suppress
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from referral_router.devinfra.fake_oeplatform import PDF
from referral_router.devinfra.procs import stop_process
from services.intake import timers
from services.intake.adapters.oep_mapping import load_mapping
from services.intake.adapters.postgres import PostgresIntakeUnitOfWork
from services.intake.adapters.postgres_oep import PostgresPollerTurn
from services.intake.domain.open_eplatform import raw_associated_data
from services.intake.domain.submissions import document_associated_data, document_name_associated_data
from services.intake.handlers.open_eplatform import OepPolling
from services.intake.handlers.sealing import open_row
from services.intake.main import (
    MIGRATIONS,
    SERVICE,
    OepSettings,
    build_secrets,
    poller_config,
    portal_client,
    portal_http,
    remap_open_eplatform,
)
from shared import db
from shared.clock import FixedClock
from shared.settings import DatabaseSettings
from tests.helpers import eventually
from tests.integration.intake_support import KEY_1, FakePortal, intake_settings, start_fake_portal

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "tests" / "fixtures" / "oeplatform" / "real"
SERVED = ("composed-orosanmalan-4999.xml", "composed-orosanmalan-4965.xml", "composed-orosanmalan-4932.xml")
CLOCK = FixedClock(datetime(2025, 3, 1, 12, 0, tzinfo=UTC))
LATIN1 = "text/xml; charset=ISO-8859-1"
PERSONAL = ("Hugo", "Fiktivsson", "201503129825", "199001019877", "Saga", "Påhittad", "Nätmobbning",
            "Samtal med", "Låtsasgatan", "070-000", "kommun.example", "bråk hemma")  # fmt: skip


@pytest.fixture
def fake_portal(tmp_path):
    # The fixtures directory (the old synthetic instances, family 101 in 2026, and real/ beside
    # them, where the fake finds the file left out of 4999's XML); the real instances are added.
    proc, portal = start_fake_portal(tmp_path)
    yield portal, proc
    stop_process(proc)


async def put(
    portal: FakePortal, path: str, content: bytes = b"", content_type: str = LATIN1, **json
) -> None:
    async with httpx.AsyncClient() as client:
        if json:
            (await client.post(f"{portal.url}{path}", json=json)).raise_for_status()
        else:
            headers = {"content-type": content_type}
            (await client.put(f"{portal.url}{path}", content=content, headers=headers)).raise_for_status()


def settings_for(portal: FakePortal, database_url: str, mapping: Path):
    oep = OepSettings(
        base_url=portal.url, username="integration", password=SecretStr("integration-secret"),
        families=["101"], mapping_path=mapping, start_date=date(2025, 2, 1), max_attempts=1,
        status_received="Mottagen", list_days=60,
    )  # fmt: skip
    broker = SimpleNamespace(bootstrap="127.0.0.1:9", flavour="tansu")  # never reached: no Kafka here
    return intake_settings(database_url, broker, "unused.", oep=oep)


def remap_command(portal: FakePortal, database_url: str, mapping: Path) -> subprocess.CompletedProcess[str]:
    """`python -m services.intake.oep_remap` with intake's settings in its environment. The
    instances are from 2025: the longest allowed age keeps them valid on the real clock."""
    env = {
        "PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), "DATABASE__URL": database_url,
        "CRYPTO__KEYS": json.dumps({"k1": KEY_1}), "CRYPTO__CURRENT_KEY": "k1",
        "CRYPTO__PEPPER": "test-pepper",
        "PORTAL__MAX_AGE_DAYS": "3650", "OEP__BASE_URL": portal.url, "OEP__USERNAME": "integration",
        "OEP__PASSWORD": "integration-secret", "OEP__FAMILIES": '["101"]', "OEP__MAPPING_PATH": str(mapping),
        "OEP__START_DATE": "2025-02-01",
    }  # fmt: skip
    argv = [sys.executable, "-m", "services.intake.oep_remap"]
    return subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)


async def states(pool: asyncpg.Pool) -> dict[int, str]:
    rows = await pool.fetch("SELECT flow_instance_id, state FROM oep_instances")
    return {r["flow_instance_id"]: r["state"] for r in rows}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_the_poller_takes_the_real_documents_end_to_end(fake_portal, database_url, tmp_path, caplog):
    portal, _ = fake_portal
    for name in SERVED:  # the real-document instances, alongside the old synthetic ones
        await put(portal, "/instances/0", (REAL / name).read_bytes())
    await put(portal, "/lists/101", (REAL / "getstatus.xml").read_bytes())
    await put(portal, "/lists/101", (REAL / "getinstances-no-declaration.xml").read_bytes())
    await put(portal, "/control", purge_after_fetch=[4932])
    mapping = tmp_path / "mapping.yaml"
    shutil.copy(REPO / "deploy" / "config" / "oeplatform.orosanmalan.contact-details.yaml", mapping)
    settings = settings_for(portal, database_url, mapping)
    oep = settings.oep
    assert oep is not None
    failed_before, gone_before = (
        sample("intake_oep_poll_rounds_total", outcome="failed"),
        sample("intake_oep_instances_total", outcome="gone"),
    )
    pool = await db.create_pool(DatabaseSettings(url=SecretStr(database_url)), SERVICE)
    try:
        await db.apply_migrations(pool, SERVICE, MIGRATIONS)
        keys = build_secrets(settings.crypto)
        async with portal_http(oep) as http:
            client = portal_client(http, oep, load_mapping(mapping), CLOCK, 365)
            config = poller_config(oep)
            poll = OepPolling(
                lambda: PostgresIntakeUnitOfWork(pool), client, PostgresPollerTurn(pool), config, keys, CLOCK
            )
            with caplog.at_level(logging.INFO):
                task = asyncio.create_task(timers.poll_open_eplatform(poll, 0.05, 0.4))
                try:
                    final = {4999: "done", 4965: "rejected_reported", 4933: "gone", 4932: "gone"}
                    await eventually(
                        lambda: states(pool), lambda s: all(s.get(i) == v for i, v in final.items())
                    )
                finally:
                    task.cancel()
                    with suppress(asyncio.CancelledError):
                        await task
        # The status document given for a list failed one round, counted; the loop went on.
        assert sample("intake_oep_poll_rounds_total", outcome="failed") >= failed_before + 1
        assert sample("intake_oep_instances_total", outcome="gone") == gone_before + 2
        calls = await portal.calls()
        lists = [c for c in calls if c["op"] == "getinstances"]
        assert lists[0]["from_date"] == "2025-02-01" and lists[0]["to_date"] == "2025-04-02"
        # 4999: its two files from the file endpoint and its PDF, stored encrypted with the referral.
        fetched = sorted((c["query_id"], c["file_id"]) for c in calls if c["op"] == "getfile")
        assert fetched == [(70041, 9001), (70041, 9002)]
        submission = await pool.fetchval(
            "SELECT submission_id FROM oep_instances WHERE flow_instance_id = 4999"
        )
        async with PostgresIntakeUnitOfWork(pool) as uow:
            infos = await uow.dossiers.documents_of(submission)
            second = await uow.dossiers.document(submission, 3)
            names = await uow.dossiers.document_names_of(submission)
            key = await uow.data_keys.get(submission)
        assert [(i.n, i.name, i.media_type, i.size) for i in infos] == [
            (
                1,
                "Originaldokument (Open ePlatform).xml",
                "application/xml",
                len((REAL / SERVED[0]).read_bytes()),
            ),
            (2, "Bilaga 1", "text/plain", 50),
            (3, "Bilaga 2", "application/pdf", 67),
            (4, "Ärendet som PDF (Open ePlatform).pdf", "application/pdf", len(PDF)),
        ]
        assert second is not None and b"%PDF" not in second.ciphertext
        plain = open_row(
            keys.cipher, key, second.key_id, second.ciphertext, document_associated_data(submission, 3)
        )
        assert plain == (REAL / "composed-file-9002.pdf").read_bytes()
        # The names the reporter gave the two files, only encrypted under the submission's data key
        # (the plain `name` column keeps "Bilaga n"), read back for the dossier listing.
        shown = {
            n: open_row(keys.cipher, key, key_id, blob, document_name_associated_data(submission, n)).decode()
            for n, (key_id, blob) in names.items()
        }
        assert shown == {2: "Samtal med Hugo F 2025-02-26.txt", 3: "Skolans dokumentation.pdf"}
        for row in await pool.fetch("SELECT * FROM documents"):  # every column but the content's
            text = " ".join(
                bytes(v).decode("latin-1") if isinstance(v, bytes) else str(v)
                for column, v in row.items()
                if column != "ciphertext"
            )
            assert not [p for p in (*PERSONAL, "Skolans dokumentation") if p in text]
        # Callbacks: 4999 confirmed with its referral id and given the status (bodies the fake
        # accepts only in the callback namespace); 4932 purged before its confirmDelivery.
        made = [
            (c["op"], c["flow_instance_id"]) for c in calls if c["op"] in ("confirmDelivery", "setStatus")
        ]
        assert made == [("setStatus", 4965), ("confirmDelivery", 4999), ("setStatus", 4999)]  # oldest first
        error = await pool.fetchval("SELECT last_error FROM oep_instances WHERE flow_instance_id = 4932")
        assert error == "confirmDelivery: S:Server The requested flow instance with ID 4932 was not found"
        assert await pool.fetchval("SELECT count(*) FROM oep_instances WHERE flow_instance_id = 4933") == 1
        assert [c["flow_instance_id"] for c in calls if c["op"] == "getinstance"].count(4933) == 1
        # 4965 failed the mapping: kept raw, encrypted, and alerted without its answers.
        row = await pool.fetchrow(
            "SELECT key_id, ciphertext, charset FROM oep_raw_documents WHERE flow_instance_id = 4965"
        )
        raw = (REAL / "composed-orosanmalan-4965.xml").read_bytes()
        assert "Nätmobbning".encode("iso-8859-1") not in row["ciphertext"]
        assert keys.cipher.decrypt(row["key_id"], row["ciphertext"], raw_associated_data(4965)) == raw
        assert row["charset"].lower() == "iso-8859-1"  # as its Content-Type said
        alerted = [r for r in caplog.records if r.message == "open eplatform instance could not be mapped"]
        assert [(r.flow_instance_id, r.state) for r in alerted] == [(4965, "rejected")]  # type: ignore[attr-defined]
        # 4999 and 4932 (stored before the portal purged it: what was reported stays) are stored.
        assert await pool.fetchval("SELECT count(*) FROM submissions") == 2

        # Before the fix, `python -m services.intake.oep_remap` (its own process, the service's
        # settings from the environment) says what still fails, naming the question only.
        before = remap_command(portal, database_url, mapping)
        assert before.returncode == 1, before.stderr
        assert "4965: question 'oroOmraden': 1 answer(s) not in the mapping" in before.stderr
        # The mapping fixed, the re-mapping imports 4965 once, and calls it back.
        mapping.write_text(
            mapping.read_text("utf-8").replace(
                '"Annat": other', '"Annat": other\n      "Nätmobbning": other'
            ),
            "utf-8",
        )
        after = remap_command(portal, database_url, mapping)
        assert after.returncode == 0, after.stderr
        assert '"imported": [4965]' in after.stdout
        assert not [p for p in PERSONAL if p in before.stdout + before.stderr + after.stdout + after.stderr]
        assert (await states(pool))[4965] == "done"
        assert (await remap_open_eplatform(settings, CLOCK, None)).imported == []
        assert await pool.fetchval("SELECT count(*) FROM submissions") == 3
        assert await pool.fetchval("SELECT count(*) FROM referrals") == 3
        assert await pool.fetchval("SELECT count(*) FROM oep_raw_documents") == 0
        calls = await portal.calls()
        statuses = [
            c["params"]["statusAlias"]
            for c in calls
            if c["op"] == "setStatus" and c["flow_instance_id"] == 4965
        ]
        assert statuses == ["Kunde inte tas emot automatiskt", "Mottagen"]
    finally:
        await pool.close()
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert not [p for p in PERSONAL if p in logged]
