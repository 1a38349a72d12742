"""Known synthetic personal details go in; none comes out in logs, events, mail or plain columns,
also after the dossier was read, revealed and broken into (issue 19)."""

from __future__ import annotations

import json
import random
import uuid

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from referral_router.stack import SERVICES
from referral_router.synthetic_data import check_digit
from referral_router.tokens import dev_token
from services.intake.signatures import sign
from tests.factories import encode, submission
from tests.helpers import eventually

CHILD_NUMBER = "201504129824"  # synthetic: serial 982
SIBLING_NUMBER = "20120903" + "987" + str(check_digit("120903987"))
GUARDIAN_NUMBER = "198503149919"
SECRETS = {
    "child name": "Zandra Hemligsdotter",
    "sibling name": "Kasimir Hemligsdotter",
    "guardian name": "Ottilia Hemligsdotter",
    "reporter name": "Quintus Läckkontroll",
    "organisation": "Sekretesskolan Nord",
    "role": "Kurator Läckkontroll",
    "phone": "070-123 45 67",
    "email": "quintus.lackkontroll@sekretess.example",
    "school": "Hemligbyskolan",
    "description": "Unik påhittad oro om Zandra, kontrolltext 7f3a9c",
    "child location": "Bakgården vid Ekvägen 12",
    "interpreter": "tigrinja för Zandra Hemlig",
    # Issue 24: a portal that puts a person in its submission ids (people do).
    "portal id": "Zandra.Hemligsdotter",
}


def number_forms(number: str) -> list[str]:
    return [number, number[2:], f"{number[2:8]}-{number[8:]}", f"{number[:8]}-{number[8:]}"]


NEEDLES = [
    *SECRETS.values(),
    *(f for n in (CHILD_NUMBER, SIBLING_NUMBER, GUARDIAN_NUMBER) for f in number_forms(n)),
]


def leaky_submission() -> dict:
    portal_id = f"{SECRETS['portal id']}.{CHILD_NUMBER}.{uuid.uuid4().hex[:6]}"
    body = submission(random.Random(11), children=2, submission_id=portal_id)
    body["reporter"].update(
        name=SECRETS["reporter name"], organisation=SECRETS["organisation"], role=SECRETS["role"],
        phone=SECRETS["phone"], email=SECRETS["email"],
    )  # fmt: skip
    body["children"][0].update(
        personal_number=CHILD_NUMBER, name=SECRETS["child name"], school=SECRETS["school"],
        protected_identity=True,
    )  # fmt: skip
    body["children"][1].update(
        personal_number=f"{SIBLING_NUMBER[2:8]}-{SIBLING_NUMBER[8:]}", name=SECRETS["sibling name"]
    )
    body["guardians"] = [
        {"personal_number": GUARDIAN_NUMBER, "name": SECRETS["guardian name"], "informed": True}
    ]
    body["concern"].update(
        description=SECRETS["description"], child_location=SECRETS["child location"],
        interpreter_language=SECRETS["interpreter"],
    )  # fmt: skip
    return body


async def post(stack, raw: bytes) -> httpx.Response:
    headers = {"content-type": "application/json", "x-client-id": "dev-portal"}
    import time

    headers["x-signature"] = sign("dev-portal-secret", int(time.time()), raw)
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(stack.services.url("intake", "/v1/referrals"), content=raw, headers=headers)


def leaks(text: str) -> list[str]:
    return [n for n in NEEDLES if n in text]


async def all_records(bootstrap: str, prefix: str) -> list[tuple[str, str]]:
    """Every record of every topic with this prefix: (topic, key + value as text)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        parts = await eventually(lambda: _partitions(consumer, prefix), _every_topic_known, timeout_s=30)
        consumer.assign(parts)
        await consumer.seek_to_beginning()
        ends = await consumer.end_offsets(parts)
        records: list[tuple[str, str]] = []
        while [p for p in parts if await consumer.position(p) < ends[p]]:
            for tp, msgs in (await consumer.getmany(timeout_ms=500)).items():
                records += [(tp.topic, (m.key or b"").decode() + (m.value or b"").decode()) for m in msgs]
        return records
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, prefix: str) -> list[TopicPartition]:
    await consumer._client.force_metadata_update()
    topics = [t for t in await consumer.topics() if t.startswith(prefix)]
    # A topic whose partitions are not yet known would be silently skipped: read it as empty.
    return [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or (-1,)]


def _every_topic_known(parts: list[TopicPartition]) -> bool:
    return len(parts) > 0 and all(tp.partition >= 0 for tp in parts)


async def decrypted_details(database_url: str, submission_id: str) -> str:
    from services.intake.domain.submissions import DataKey
    from services.intake.handlers.sealing import open_row
    from shared.crypto import Cipher, decode_key

    key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # the e2e stack's key (tests/e2e/conftest.py)
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "intake"})
    try:
        row = await conn.fetchrow(
            "SELECT key_id, ciphertext FROM personal_details WHERE submission_id = $1", submission_id
        )
        k = await conn.fetchrow(
            "SELECT key_id, wrapped FROM data_keys WHERE submission_id = $1", submission_id
        )
    finally:
        await conn.close()
    cipher = Cipher({"e2e-1": decode_key(key)}, "e2e-1")
    data_key = None if k is None else DataKey(submission_id, k["key_id"], bytes(k["wrapped"]))
    return open_row(
        cipher, data_key, row["key_id"], bytes(row["ciphertext"]), submission_id.encode()
    ).decode()


async def plain_columns(database_url: str) -> list[tuple[str, str]]:
    """Every value of every table of every schema, as text, except the encrypted columns."""
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'"
        )
        found: list[tuple[str, str]] = []
        for t in tables:
            where = f'"{t["table_schema"]}"."{t["table_name"]}"'
            for row in await conn.fetch(f"SELECT * FROM {where}"):
                for column, value in row.items():
                    if column == "ciphertext" and where in (
                        '"intake"."personal_details"',
                        '"intake"."documents"',
                    ):
                        continue
                    text = bytes(value).decode(errors="replace") if isinstance(value, bytes) else str(value)
                    found.append((f"{where}.{column}", text))
        return found
    finally:
        await conn.close()


async def read_the_dossier(stack, referral_id: str) -> None:
    """Issue 19: the assigned caseworker reads the dossier and reveals the protected whereabouts, a
    colleague breaks the glass: the details come back to them, and to nothing else."""
    async with httpx.AsyncClient(timeout=10) as client:
        state = await client.get(
            stack.services.url("assignment", f"/v1/referrals/{referral_id}"),
            headers={"authorization": f"Bearer {dev_token('head', ['head_of_unit'])}"},
        )
        caseworker = state.json()["caseworker"]
        reader = {"authorization": f"Bearer {dev_token(caseworker, ['caseworker'])}"}
        dossier = await client.get(
            stack.services.url("intake", f"/v1/referrals/{referral_id}/dossier"), headers=reader
        )
        reason = {"reason": "Hembesök planerat i eftermiddag"}
        reveal = await client.post(
            stack.services.url("intake", f"/v1/referrals/{referral_id}/reveal"), json=reason, headers=reader
        )
        other = "cw-c2" if not caseworker.startswith("cw-c") else "cw-a2"
        glass = await client.post(
            stack.services.url("intake", f"/v1/referrals/{referral_id}/break-glass"),
            json={"reason": "Jouren behöver läsa ärendet nu"},
            headers={"authorization": f"Bearer {dev_token(other, ['caseworker'])}"},
        )
    assert dossier.status_code == 200, dossier.text
    assert dossier.json()["child"]["name"] == SECRETS["child name"]
    assert dossier.json()["child"]["school"] is None  # protected identity: masked until revealed
    assert reveal.status_code == 200 and reveal.json()["revealed"]["child.school"] == SECRETS["school"]
    assert glass.status_code == 201, glass.text


async def test_no_personal_detail_reaches_a_log_an_event_a_mail_or_a_plain_database_column(stack):
    body = leaky_submission()
    raw = encode(body)
    first = await post(stack, raw)
    assert first.status_code == 202, first.text
    assert (await post(stack, raw)).status_code == 200
    changed = encode({**body, "concern": {**body["concern"], "description": SECRETS["description"] + "!"}})
    assert (await post(stack, changed)).status_code == 409
    invalid = encode(
        {
            **body,
            "submission_id": body["submission_id"] + "-x",
            "children": [{"personal_number": CHILD_NUMBER[:-1] + "0", "name": SECRETS["child name"]}],
        }
    )
    rejected = await post(stack, invalid)
    assert rejected.status_code == 422 and not leaks(rejected.text)
    referral_ids = [r["referral_id"] for r in first.json()["referrals"]]
    await eventually(
        stack.emails, lambda ms: all(any(r in m["subject"] for m in ms) for r in referral_ids), timeout_s=30
    )

    await read_the_dossier(stack, referral_ids[0])

    reference = first.json()["reference"]  # intake's own id: what travels instead of the portal's
    records = await all_records(stack.broker.bootstrap, stack.topic_prefix)
    assert sum(reference in text for _, text in records) >= 2  # the events are there
    assert [(topic, leaks(text)) for topic, text in records if leaks(text)] == []

    logs = {s: stack.services.log(s) for s in ("intake", "assignment", "notifications", "metrics")}
    assert reference in logs["intake"]  # the request was logged, without details
    assert {s: leaks(text) for s, text in logs.items() if leaks(text)} == {}

    mails = json.dumps(await stack.emails(), ensure_ascii=False)
    assert not leaks(mails)

    async with httpx.AsyncClient(timeout=10) as client:
        scraped = {s: (await client.get(stack.services.url(s, "/metrics"))).text for s in SERVICES}
    assert {s: leaks(text) for s, text in scraped.items() if leaks(text)} == {}

    stored = await decrypted_details(stack.database_url, reference)
    assert all(value in stored for value in SECRETS.values())  # kept, but only encrypted

    columns = await plain_columns(stack.database_url)
    assert any(reference in text for _, text in columns)
    assert [(where, leaks(text)) for where, text in columns if leaks(text)] == []
