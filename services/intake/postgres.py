"""Postgres adapter for intake's submissions, referrals and encrypted personal details."""

from __future__ import annotations

import json

from services.intake.ports import NewSubmission, StoredSubmission
from shared.crypto import Cipher
from shared.db import Conn


class PostgresSubmissionStore:
    """Stores a submission in the caller's transaction."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def insert(self, submission: NewSubmission) -> StoredSubmission | None:
        """Insert unless the submission id exists; a concurrent twin waits for our commit."""
        inserted = await self._conn.fetchval(
            "INSERT INTO submissions (submission_id, client_id, body_digest, received_at, response)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (submission_id) DO NOTHING RETURNING 1",
            submission.submission_id,
            submission.client_id,
            submission.body_digest,
            submission.received_at,
            json.dumps(submission.response),
        )
        if inserted is None:
            row = await self._conn.fetchrow(
                "SELECT body_digest, response FROM submissions WHERE submission_id = $1",
                submission.submission_id,
            )
            assert row is not None
            return StoredSubmission(bytes(row["body_digest"]), json.loads(row["response"]))
        await self._conn.execute(
            "INSERT INTO personal_details (submission_id, key_id, ciphertext) VALUES ($1, $2, $3)",
            submission.submission_id,
            submission.key_id,
            submission.ciphertext,
        )
        await self._conn.executemany(
            "INSERT INTO referrals (referral_id, submission_id, child_index, child_key, family_key,"
            " kind, received_at, acute_danger, protected_identity)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            [
                (
                    r.referral_id,
                    submission.submission_id,
                    r.child_index,
                    r.child_key,
                    r.family_key,
                    submission.kind,
                    submission.received_at,
                    submission.acute_danger,
                    r.protected_identity,
                )
                for r in submission.referrals
            ],
        )
        return None


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
