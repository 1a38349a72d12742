"""The original Open ePlatform document on real Postgres, from the fake portal (a separate
process) to the attachments endpoint (issue 19): kept byte for byte as fetched, encrypted (the
child's name is nowhere in the stored bytes), listed in the dossier and downloaded, logged."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from pydantic import SecretStr

from referral_router.devinfra.fake_oeplatform import PDF
from referral_router.devinfra.procs import stop_process
from referral_router.stack import DEV_JWT_SECRET
from services.intake.adapters.postgres import PostgresIntakeUnitOfWork
from services.intake.domain.submissions import document_associated_data
from services.intake.handlers.sealing import DataKeyRing
from services.intake.handlers.submissions import reencrypt_all
from services.intake.main import AssignmentApiSettings, build_secrets
from shared import db
from shared.staff_auth import AuthSettings
from tests.helpers import eventually
from tests.integration.intake_support import (
    FIXTURES,
    KEY_1,
    KEY_2,
    as_legacy,
    data_key_of,
    intake_db,
    intake_settings,
    open_stored,
    running_intake,
    start_fake_portal,
)
from tests.integration.test_intake_dossier_api import assignment_stand_in, bearer, log_rows, state
from tests.integration.test_intake_oeplatform import oep_settings

INSTANCE = 1005  # a school report about one child, ISO-8859-1


@pytest.fixture
def fake_portal(tmp_path):
    proc, portal = start_fake_portal(tmp_path)
    yield portal
    stop_process(proc)


async def stored(database_url: str, flow_instance_id: int) -> dict | None:
    conn = await intake_db(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT d.submission_id, d.n, d.name, d.media_type, d.size, d.key_id, d.ciphertext,"
            " (SELECT referral_id FROM referrals r WHERE r.submission_id = d.submission_id) AS referral_id"
            " FROM documents d JOIN oep_instances o ON o.submission_id = d.submission_id"
            " WHERE o.flow_instance_id = $1",
            flow_instance_id,
        )
        return None if row is None else dict(row)
    finally:
        await conn.close()


async def test_the_original_is_kept_as_fetched_encrypted_and_downloadable(
    fake_portal, database_url, kafka_broker, topic_prefix
):
    fetched = (FIXTURES / f"{INSTANCE}.xml").read_bytes()
    async with assignment_stand_in() as stand_in:
        settings = intake_settings(
            database_url, kafka_broker, topic_prefix, oep=oep_settings(fake_portal),
            auth=AuthSettings(jwt_secret=SecretStr(DEV_JWT_SECRET)),
            assignment=AssignmentApiSettings(url=stand_in.url, timeout_s=1.0),
        )  # fmt: skip
        async with running_intake(settings) as intake:
            row = await eventually(
                lambda: stored(database_url, INSTANCE), lambda r: r is not None, timeout_s=60
            )
            assert row is not None
            rid = row["referral_id"]
            stand_in.states[rid] = state(rid, "cw-a5")
            dossier = await intake.get(f"/v1/referrals/{rid}/dossier", headers=bearer("cw-a5", "caseworker"))
            download = await intake.get(
                f"/v1/referrals/{rid}/attachments/1", headers=bearer("cw-a5", "caseworker")
            )
            refused = await intake.get(
                f"/v1/referrals/{rid}/attachments/1", headers=bearer("cw-b1", "caseworker")
            )
            missing = await intake.get(  # 1 is the original, 2 the instance's PDF
                f"/v1/referrals/{rid}/attachments/3", headers=bearer("cw-a5", "caseworker")
            )

    # Stored: the bytes as fetched, under the current key, bound to the submission and its place.
    cipher = build_secrets(settings.crypto).cipher
    conn = await intake_db(database_url)
    try:
        at = document_associated_data(row["submission_id"], 1)
        plain = await open_stored(conn, cipher, row["submission_id"], row["key_id"], row["ciphertext"], at)
    finally:
        await conn.close()
    assert row["key_id"] == "dek" and plain == fetched
    assert (row["n"], row["name"], row["media_type"], row["size"]) == (
        1, "Originaldokument (Open ePlatform).xml", "application/xml", len(fetched),
    )  # fmt: skip
    for secret in ("Idun", "Påhittad"):
        for encoding in ("latin-1", "utf-8"):
            assert secret.encode(encoding) not in row["ciphertext"]

    # Listed and served through the endpoint, every access logged.
    assert dossier.status_code == 200, dossier.text
    assert dossier.json()["attachments"] == [
        {
            "n": 1,
            "name": "Originaldokument (Open ePlatform).xml",
            "file_name": None,  # intake's own documents: no name a person gave
            "media_type": "application/xml",
            "size": len(fetched),
        },
        {  # the instance as the portal renders it (issue 21); it has no uploaded files
            "n": 2,
            "name": "Ärendet som PDF (Open ePlatform).pdf",
            "file_name": None,  # intake's own documents: no name a person gave
            "media_type": "application/pdf",
            "size": len(PDF),
        },
    ]
    assert download.status_code == 200 and download.content == fetched
    assert download.headers["content-type"].startswith("application/xml")
    assert download.headers["content-disposition"].startswith("attachment; ")
    assert download.headers["cache-control"] == "no-store"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert refused.status_code == 403 and missing.status_code == 404
    assert await log_rows(database_url) == [
        ("cw-a5", "read", "assigned", "allowed"),
        ("cw-a5", "attachment", "assigned", "allowed"),
        ("cw-b1", "denied", "none", "denied"),
        ("cw-a5", "attachment", "assigned", "allowed"),
    ]


async def test_the_rekey_moves_the_original_to_the_newest_key_and_it_passes_for_nothing_else(
    fake_portal, database_url, kafka_broker, topic_prefix
):
    fetched = (FIXTURES / f"{INSTANCE}.xml").read_bytes()
    old = intake_settings(database_url, kafka_broker, topic_prefix, oep=oep_settings(fake_portal))
    async with running_intake(old):
        await eventually(lambda: stored(database_url, INSTANCE), lambda r: r is not None, timeout_s=60)
    rotated = intake_settings(
        database_url, kafka_broker, topic_prefix, keys={"k1": KEY_1, "k2": KEY_2}, current_key="k2"
    )
    cipher = build_secrets(rotated.crypto).cipher
    conn = await intake_db(database_url)
    try:  # as stored before data keys (migration 010)
        await as_legacy(conn, build_secrets(old.crypto).cipher)
    finally:
        await conn.close()
    assert (await stored(database_url, INSTANCE))["key_id"] == "k1"
    pool = await db.create_pool(rotated.database, "intake")
    try:
        await reencrypt_all(lambda: PostgresIntakeUnitOfWork(pool), cipher, batch_size=2)
        assert await reencrypt_all(lambda: PostgresIntakeUnitOfWork(pool), cipher, batch_size=2) == 0
    finally:
        await pool.close()

    row = await stored(database_url, INSTANCE)
    assert row is not None and row["key_id"] == "dek"  # now under a data key, wrapped by k2
    only_new = build_secrets(
        intake_settings(database_url, kafka_broker, topic_prefix, keys={"k2": KEY_2}, current_key="k2").crypto
    ).cipher
    sid = row["submission_id"]
    conn = await intake_db(database_url)
    try:
        key = await data_key_of(conn, sid)
    finally:
        await conn.close()
    assert key.key_id == "k2"
    ring = DataKeyRing.of(only_new, key)
    assert ring.open(row["ciphertext"], document_associated_data(sid, 1)) == fetched
    with pytest.raises(InvalidTag):  # bound to its place: it does not pass for the details
        ring.open(row["ciphertext"], sid.encode())
