"""Erasure by crypto-shredding on the running system (issue 23, Show 2): known synthetic personal
details go in, the referrals are registered, `referral-router retention` runs (dry, then real):
afterwards the ciphertext cannot be decrypted, the dossier says erased, a referral under legal
hold is kept, and nothing else held the data: no plain database column, topic record, service or
command log, mail, Teams card or metric carries any of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
import yaml
from cryptography.exceptions import InvalidTag

from referral_router.devinfra.procs import stop_process
from referral_router.stack import SERVICES
from referral_router.tokens import dev_token
from services.intake.domain.submissions import DataKey
from services.intake.handlers.sealing import open_row
from shared.crypto import Cipher, DataKeyDestroyed, decode_key
from tests.conftest import drop_database
from tests.e2e.conftest import start_stack
from tests.e2e.test_intake_no_personal_data import (
    SECRETS,
    all_records,
    leaks,
    leaky_submission,
    plain_columns,
    post,
)
from tests.factories import encode, submission
from tests.helpers import eventually


@pytest.fixture(scope="module")
async def stack(postgres_server, kafka_broker, tmp_path_factory):
    """The e2e stack (tests/e2e/conftest.py) with a Teams sink, so cards are scanned too."""
    log_dir = tmp_path_factory.mktemp("e2e-retention-logs")
    running, (smtp, name, teams) = await start_stack(postgres_server, kafka_broker, log_dir, teams_sink=True)
    try:
        yield running
    finally:
        running.services.stop_all()
        stop_process(smtp)
        stop_process(teams)
        await drop_database(postgres_server, name)


KEY_ID, KEY = "e2e-1", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # the e2e stack's (conftest.py)
REPO = Path(__file__).resolve().parents[2]


def retention_config(stack, path: Path) -> Path:
    """The stack's unit file with a plan: received copies erased at registration (0 days)."""
    raw = yaml.safe_load(Path(stack.services.config.unit_config).read_text("utf-8"))
    raw["retention"] = {"erase_registered_after_days": 0, "research_sample_days": []}
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    return path


def retention(stack, unit_config: Path, *args: str) -> str:
    env = {**os.environ, **stack.services.config.env("intake"), "UNIT_CONFIG_PATH": str(unit_config)}
    done = subprocess.run(
        [sys.executable, "-m", "referral_router.cli", "retention", *args],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def listed(output: str) -> list[str]:
    """The referral lines of the command's report (id, submission, rule)."""
    return [line.strip() for line in output.splitlines() if line.strip().startswith("R-")]


async def api(method: str, url: str, staff: str, role: str, **kw) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        headers = {"authorization": f"Bearer {dev_token(staff, [role])}"}
        return await client.request(method, url, headers=headers, **kw)


async def stored_row(database_url: str, submission_id: str) -> tuple[str, bytes, DataKey | None]:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "intake"})
    try:
        row = await conn.fetchrow(
            "SELECT key_id, ciphertext FROM personal_details WHERE submission_id = $1", submission_id
        )
        key = await conn.fetchrow("SELECT * FROM data_keys WHERE submission_id = $1", submission_id)
    finally:
        await conn.close()
    data_key = None
    if key is not None:
        wrapped = None if key["wrapped"] is None else bytes(key["wrapped"])
        data_key = DataKey(submission_id, key["key_id"], wrapped, key["destroyed_at"])
    return row["key_id"], bytes(row["ciphertext"]), data_key


async def test_erasure_shreds_the_data_key_keeps_held_referrals_and_leaves_the_data_nowhere(stack, tmp_path):
    first = await post(stack, encode(leaky_submission()))
    assert first.status_code == 202, first.text
    reference = first.json()["reference"]
    erased_ids = [r["referral_id"] for r in first.json()["referrals"]]
    other = await post(stack, encode(submission()))
    [held] = [r["referral_id"] for r in other.json()["referrals"]]
    everyone = [*erased_ids, held]
    await eventually(
        stack.emails, lambda ms: all(any(r in m["subject"] for m in ms) for r in everyone), timeout_s=60
    )
    await eventually(stack.cards, lambda cs: all(r in json.dumps(cs) for r in everyone), timeout_s=60)
    now = datetime.now(UTC).isoformat()
    for n, rid in enumerate(everyone):
        body = {"system_case_number": f"BoU-2026-{n:04d}", "registered_at": now}
        url = stack.services.url("intake", f"/v1/referrals/{rid}/registration")
        assert (await api("POST", url, "in-1", "intake", json=body)).status_code == 200
    hold = await api(
        "POST", stack.services.url("intake", f"/v1/referrals/{held}/legal-hold"), "head", "head_of_unit",
        json={"scope": "child", "reason": "Överklagande pågår, behåll"},
    )  # fmt: skip
    assert hold.status_code == 201, hold.text

    config = retention_config(stack, tmp_path / "unit.yaml")
    dry = retention(stack, config, "--dry-run")
    real = retention(stack, config)
    assert listed(dry) == listed(real) and sorted(line.split()[0] for line in listed(real)) == sorted(
        erased_ids
    )
    assert "kept 1: legal_hold" in real

    # The ciphertext is still there; its data key is gone, and no configured key opens it.
    key_id, ciphertext, data_key = await stored_row(stack.database_url, reference)
    assert key_id == "dek" and data_key is not None and data_key.wrapped is None
    cipher = Cipher({KEY_ID: decode_key(KEY)}, KEY_ID)
    with pytest.raises(DataKeyDestroyed):
        open_row(cipher, data_key, key_id, ciphertext, reference.encode())
    with pytest.raises(InvalidTag):
        cipher.decrypt(KEY_ID, ciphertext, reference.encode())
    _, _, held_key = await stored_row(stack.database_url, other.json()["reference"])
    assert held_key is not None and held_key.wrapped is not None  # the held one keeps its key

    # The dossier says erased (for one who may read it), not 404, not 500.
    state = await api(
        "GET", stack.services.url("assignment", f"/v1/referrals/{erased_ids[0]}"), "head", "head_of_unit"
    )
    caseworker = state.json()["caseworker"]
    url = stack.services.url("intake", f"/v1/referrals/{erased_ids[0]}/dossier")
    dossier = await api("GET", url, caseworker, "caseworker")
    assert dossier.status_code == 200, dossier.text
    assert dossier.json()["erased"]["rule"] == "received_copy_after_registration:0d"
    assert "child" not in dossier.json()
    pdf = await api("GET", url + ".pdf", caseworker, "caseworker")  # nothing left to print
    assert pdf.status_code == 410 and "erased" in pdf.json()["detail"] and not leaks(pdf.text)

    # Nothing else held the data: database outside ciphertext, topics, logs (services and the
    # command), mails, metrics.
    columns = await plain_columns(stack.database_url)
    assert any(erased_ids[0] in text for where, text in columns if "retention_log" in where)
    assert [(where, leaks(text)) for where, text in columns if leaks(text)] == []
    records = await all_records(stack.broker.bootstrap, stack.topic_prefix)
    assert [(topic, leaks(text)) for topic, text in records if leaks(text)] == []
    logs = {s: stack.services.log(s) for s in ("intake", "assignment", "notifications", "metrics")}
    assert {s: leaks(text) for s, text in logs.items() if leaks(text)} == {}
    assert not leaks(dry + real)
    assert not leaks(json.dumps(await stack.emails(), ensure_ascii=False))
    cards = json.dumps(await stack.cards(), ensure_ascii=False)
    assert any(rid in cards for rid in everyone) and not leaks(cards)  # the cards were sent, clean
    async with httpx.AsyncClient(timeout=10) as client:
        scraped = {s: (await client.get(stack.services.url(s, "/metrics"))).text for s in SERVICES}
    assert {s: leaks(text) for s, text in scraped.items() if leaks(text)} == {}
    assert SECRETS["child name"] not in dossier.text
