"""Personal details at rest: AES-256-GCM per row under a key id, key rotation and re-encryption."""

from __future__ import annotations

import asyncpg
import pytest
from cryptography.exceptions import InvalidTag

from services.intake.adapters.postgres import PostgresIntakeUnitOfWork
from services.intake.handlers.submissions import read_details, reencrypt_all
from services.intake.main import build_secrets
from shared import db
from tests.factories import encode, submission
from tests.integration.intake_support import (
    KEY_1,
    KEY_2,
    as_legacy,
    intake_db,
    intake_settings,
    post,
    running_intake,
)


async def stored(database_url: str) -> list[asyncpg.Record]:
    conn = await intake_db(database_url)
    try:
        return await conn.fetch("SELECT submission_id, key_id, ciphertext FROM personal_details ORDER BY 1")
    finally:
        await conn.close()


async def data_keys(database_url: str) -> list[asyncpg.Record]:
    conn = await intake_db(database_url)
    try:
        return await conn.fetch("SELECT submission_id, key_id FROM data_keys ORDER BY 1")
    finally:
        await conn.close()


async def decrypt_all(database_url: str, settings) -> dict[str, bytes]:
    cipher = build_secrets(settings.crypto).cipher
    pool = await db.create_pool(settings.database, "intake")
    try:
        return {
            r["submission_id"]: await read_details(PostgresIntakeUnitOfWork(pool), r["submission_id"], cipher)
            for r in await stored(database_url)
        }
    finally:
        await pool.close()


async def test_the_body_is_stored_encrypted_and_decrypts_to_exactly_what_the_portal_sent(
    database_url, kafka_broker, topic_prefix
):
    settings = intake_settings(database_url, kafka_broker, topic_prefix)
    body = submission()
    async with running_intake(settings) as intake:
        response = await post(intake, body)
        assert response.status_code == 202
    [row] = await stored(database_url)
    assert row["key_id"] == "dek"  # sealed under the submission's own data key…
    [key] = await data_keys(database_url)
    assert key["submission_id"] == row["submission_id"] and key["key_id"] == "k1"  # …wrapped by k1
    assert body["children"][0]["name"].encode() not in row["ciphertext"]
    assert await decrypt_all(database_url, settings) == {response.json()["reference"]: encode(body)}


async def test_rows_under_an_old_key_stay_readable_and_rekey_moves_every_row_to_the_newest_key(
    database_url, kafka_broker, topic_prefix
):
    old = intake_settings(database_url, kafka_broker, topic_prefix)
    rotated = intake_settings(
        database_url, kafka_broker, topic_prefix, keys={"k1": KEY_1, "k2": KEY_2}, current_key="k2"
    )
    bodies = [submission() for _ in range(5)]
    expected = {}
    async with running_intake(old) as intake:
        for body in bodies[:2]:
            expected[(await post(intake, body)).json()["reference"]] = encode(body)
        conn = await intake_db(database_url)
        try:  # these two as stored before data keys (migration 010): under the global key k1
            await as_legacy(conn, build_secrets(old.crypto).cipher)
        finally:
            await conn.close()
        for body in bodies[2:4]:  # these two under data keys wrapped by k1
            expected[(await post(intake, body)).json()["reference"]] = encode(body)
    async with running_intake(rotated) as intake:
        expected[(await post(intake, bodies[4])).json()["reference"]] = encode(bodies[4])
    assert sorted(r["key_id"] for r in await stored(database_url)) == ["dek", "dek", "dek", "k1", "k1"]
    assert sorted(k["key_id"] for k in await data_keys(database_url)) == ["k1", "k1", "k2"]
    assert await decrypt_all(database_url, rotated) == expected

    pool = await db.create_pool(rotated.database, "intake")
    try:
        cipher = build_secrets(rotated.crypto).cipher
        # Two legacy rows moved onto new data keys, two data keys re-wrapped.
        assert await reencrypt_all(lambda: PostgresIntakeUnitOfWork(pool), cipher, batch_size=2) == 4
        assert await reencrypt_all(lambda: PostgresIntakeUnitOfWork(pool), cipher, batch_size=2) == 0
    finally:
        await pool.close()
    assert {r["key_id"] for r in await stored(database_url)} == {"dek"}
    assert [k["key_id"] for k in await data_keys(database_url)] == ["k2"] * 5
    only_new = intake_settings(database_url, kafka_broker, topic_prefix, keys={"k2": KEY_2}, current_key="k2")
    assert await decrypt_all(database_url, only_new) == expected


async def test_a_ciphertext_moved_to_another_row_does_not_decrypt(database_url, kafka_broker, topic_prefix):
    settings = intake_settings(database_url, kafka_broker, topic_prefix)
    async with running_intake(settings) as intake:
        await post(intake, submission())
        await post(intake, submission())
    first, second = await stored(database_url)
    conn = await intake_db(database_url)
    try:
        await conn.execute(
            "UPDATE personal_details SET ciphertext = $1 WHERE submission_id = $2",
            first["ciphertext"],
            second["submission_id"],
        )
    finally:
        await conn.close()
    pool = await db.create_pool(settings.database, "intake")
    try:
        cipher = build_secrets(settings.crypto).cipher
        with pytest.raises(InvalidTag):
            await read_details(PostgresIntakeUnitOfWork(pool), second["submission_id"], cipher)
    finally:
        await pool.close()


def test_the_rekey_command_reads_keys_and_pepper_from_the_environment_only(monkeypatch):
    monkeypatch.setenv("CRYPTO__KEYS", f'{{"k9": "{KEY_2}"}}')
    monkeypatch.setenv("CRYPTO__CURRENT_KEY", "k9")
    monkeypatch.setenv("CRYPTO__PEPPER", "from-env")
    from services.intake.main import IntakeSettings

    settings = IntakeSettings()
    assert build_secrets(settings.crypto).cipher.current == "k9"
    monkeypatch.delenv("CRYPTO__PEPPER")
    with pytest.raises(ValueError, match="pepper"):
        IntakeSettings()


async def test_the_rekey_command_re_encrypts_under_the_current_key_from_the_environment(
    database_url, kafka_broker, topic_prefix
):
    import json
    import subprocess
    import sys

    old = intake_settings(database_url, kafka_broker, topic_prefix)
    async with running_intake(old) as intake:
        await post(intake, submission())
        await post(intake, submission())
    env = {
        "DATABASE__URL": database_url,
        "CRYPTO__KEYS": json.dumps({"k1": KEY_1, "k2": KEY_2}),
        "CRYPTO__CURRENT_KEY": "k2",
        "CRYPTO__PEPPER": "test-pepper",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-m", "services.intake.rekey", "--batch-size", "1"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"rows": 2' in done.stdout  # the two data keys, re-wrapped
    assert {k["key_id"] for k in await data_keys(database_url)} == {"k2"}
