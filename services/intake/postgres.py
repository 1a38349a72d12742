"""Postgres adapter for intake's submissions, referrals and encrypted personal details."""

from __future__ import annotations

import json

from services.intake.ports import NewSubmission, StoredSubmission
from shared.crypto import Cipher
from shared.db import Conn
from shared.events import OutboxRow

# One statement (one round trip, atomic without BEGIN/COMMIT) stores a submission, its encrypted
# details, its referrals and their outbox rows, and wakes the relay; every insert after the first
# reads from `s`, so a submission id seen before inserts nothing and returns no row.
_INSERT_ALL = """
WITH s AS (
    INSERT INTO submissions (submission_id, client_id, body_digest, received_at, response)
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (submission_id) DO NOTHING RETURNING submission_id
), d AS (
    INSERT INTO personal_details (submission_id, key_id, ciphertext) SELECT submission_id, $6, $7 FROM s
), r AS (
    INSERT INTO referrals (referral_id, submission_id, child_index, child_key, family_key, kind,
                           received_at, acute_danger, protected_identity)
    SELECT x.referral_id, s.submission_id, x.child_index, x.child_key, x.family_key, $8, $4, $9,
           x.protected_identity
    FROM s, unnest($10::text[], $11::int[], $12::text[], $13::text[], $14::bool[])
         AS x(referral_id, child_index, child_key, family_key, protected_identity)
), o AS (
    INSERT INTO outbox (event_id, topic, key, payload)
    SELECT e.event_id, e.topic, e.key, e.payload
    FROM s, unnest($15::uuid[], $16::text[], $17::bytea[], $18::bytea[]) WITH ORDINALITY
         AS e(event_id, topic, key, payload, n)
    ORDER BY e.n
)
SELECT pg_notify('outbox_' || current_schema(), '') FROM s
"""


async def insert_with_events(
    conn: Conn, submission: NewSubmission, events: list[OutboxRow]
) -> StoredSubmission | None:
    """Store a new submission with its outbox rows in one statement, or return the stored one.

    The effects of inserting the submission, its details and referrals and then `add_to_outbox`
    per event in one transaction, in one round trip instead of six (bench/). A concurrent twin waits for
    our commit on the primary key, then inserts nothing and reads what we stored.
    """
    refs = submission.referrals
    inserted = await conn.fetch(
        _INSERT_ALL,
        submission.submission_id, submission.client_id, submission.body_digest, submission.received_at,
        json.dumps(submission.response), submission.key_id, submission.ciphertext, submission.kind,
        submission.acute_danger, [r.referral_id for r in refs], [r.child_index for r in refs],
        [r.child_key for r in refs], [r.family_key for r in refs], [r.protected_identity for r in refs],
        [e[0] for e in events], [e[1] for e in events], [e[2] for e in events], [e[3] for e in events],
    )  # fmt: skip
    if inserted:
        return None
    row = await conn.fetchrow(
        "SELECT body_digest, response FROM submissions WHERE submission_id = $1", submission.submission_id
    )
    assert row is not None
    return StoredSubmission(bytes(row["body_digest"]), json.loads(row["response"]))


async def read_personal_details(conn: Conn, submission_id: str, cipher: Cipher) -> bytes | None:
    """The decrypted body of a submission, whichever configured key it was written under."""
    row = await conn.fetchrow(
        "SELECT key_id, ciphertext FROM personal_details WHERE submission_id = $1", submission_id
    )
    if row is None:
        return None
    return cipher.decrypt(row["key_id"], bytes(row["ciphertext"]), submission_id.encode())


async def reencrypt_batch(conn: Conn, cipher: Cipher, batch_size: int) -> int:
    """Re-encrypt up to `batch_size` rows not under the current key; return how many.

    Rows are locked with SKIP LOCKED, so two runs at once share the work instead of colliding.
    """
    async with conn.transaction():
        rows = await conn.fetch(
            "SELECT submission_id, key_id, ciphertext FROM personal_details WHERE key_id <> $1"
            " ORDER BY submission_id LIMIT $2 FOR UPDATE SKIP LOCKED",
            cipher.current,
            batch_size,
        )
        for row in rows:
            associated = row["submission_id"].encode()
            plain = cipher.decrypt(row["key_id"], bytes(row["ciphertext"]), associated)
            key_id, blob = cipher.encrypt(plain, associated)
            await conn.execute(
                "UPDATE personal_details SET key_id = $2, ciphertext = $3 WHERE submission_id = $1",
                row["submission_id"],
                key_id,
                blob,
            )
    return len(rows)
