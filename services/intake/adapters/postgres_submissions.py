"""Postgres submission store: submissions, referrals, encrypted details and their outbox rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.intake.adapters.postgres_session import Session
from services.intake.adapters.postgres_statistics import insert_arguments
from services.intake.domain.submissions import (
    DocumentInfo,
    EncryptedDetails,
    EncryptedDocument,
    NewSubmission,
    Receipt,
    ReferralReceipt,
    StoredSubmission,
)
from shared.events import OutboxRow

# One statement stores a submission, its encrypted details and documents, its referrals, their
# statistics records and outbox rows,
# and wakes the relay; every insert after the first reads from `s`, so a portal key seen before
# inserts nothing and returns no row.
_INSERT_ALL = """
WITH s AS (
    INSERT INTO submissions (submission_id, client_id, body_digest, received_at, response, portal_key)
    VALUES ($1, $2, $3, $4, $5, $19) ON CONFLICT (portal_key) DO NOTHING RETURNING submission_id
), d AS (
    INSERT INTO personal_details (submission_id, key_id, ciphertext) SELECT submission_id, $6, $7 FROM s
), a AS (
    INSERT INTO documents (submission_id, n, name, media_type, size, key_id, ciphertext, name_ciphertext)
    SELECT s.submission_id, x.n, x.name, x.media_type, x.size, x.key_id, x.ciphertext, x.name_ciphertext
    FROM s, unnest($20::int[], $21::text[], $22::text[], $23::int[], $24::text[], $25::bytea[],
                   $37::bytea[])
         AS x(n, name, media_type, size, key_id, ciphertext, name_ciphertext)
), k AS (
    INSERT INTO data_keys (submission_id, key_id, wrapped)
    SELECT submission_id, $26, $27 FROM s WHERE $27::bytea IS NOT NULL
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
), t AS (
    INSERT INTO statistics_records (referral_id, received_at, kind, channel, reporter_type, categories,
                                    acute_danger, sex, age)
    SELECT x.referral_id, x.received_at, x.kind, x.channel, x.reporter_type,
           string_to_array(x.categories, ';'), x.acute_danger, x.sex, x.age
    FROM s, unnest($28::text[], $29::timestamptz[], $30::text[], $31::text[], $32::text[], $33::text[],
                   $34::bool[], $35::text[], $36::int[])
         AS x(referral_id, received_at, kind, channel, reporter_type, categories, acute_danger, sex, age)
)
SELECT pg_notify('outbox_' || current_schema(), '') FROM s
"""


def receipt_json(receipt: Receipt) -> str:
    """The answer as stored in `submissions.response` (and given again to an identical resubmission)."""
    return json.dumps(
        {
            "reference": receipt.reference,
            "received_at": receipt.received_at.isoformat(),
            "referrals": [
                {"referral_id": r.referral_id, "child_index": r.child_index} for r in receipt.referrals
            ],
        }
    )


def _receipt(stored: Any) -> Receipt:
    answer = json.loads(stored)
    return Receipt(
        answer["reference"],
        datetime.fromisoformat(answer["received_at"]),
        tuple(ReferralReceipt(r["referral_id"], r["child_index"]) for r in answer["referrals"]),
    )


class PostgresSubmissionStore:
    """Submissions, referrals, encrypted details and their outbox rows in intake's schema."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def add(self, submission: NewSubmission, events: Sequence[OutboxRow]) -> StoredSubmission | None:
        """One statement, alone or in the transaction (postgres_session.py). A concurrent twin waits
        for our commit on the primary key, then inserts nothing and reads what we stored."""
        conn = self._session.for_one_statement()
        refs, details, docs = submission.referrals, submission.details, submission.documents
        inserted = await conn.fetch(
            _INSERT_ALL,
            submission.submission_id, submission.client_id, submission.body_digest, submission.received_at,
            receipt_json(submission.receipt), details.key_id, details.ciphertext, submission.kind,
            submission.acute_danger, [r.referral_id for r in refs], [r.child_index for r in refs],
            [r.child_key for r in refs], [r.family_key for r in refs], [r.protected_identity for r in refs],
            [e[0] for e in events], [e[1] for e in events], [e[2] for e in events], [e[3] for e in events],
            submission.portal_key, [d.info.n for d in docs], [d.info.name for d in docs],
            [d.info.media_type for d in docs], [d.info.size for d in docs], [d.key_id for d in docs],
            [d.ciphertext for d in docs], *_data_key(submission), *insert_arguments(submission.statistics),
            [d.name_ciphertext for d in docs],
        )  # fmt: skip
        if inserted:
            return None
        row = await conn.fetchrow(
            "SELECT body_digest, response FROM submissions WHERE portal_key = $1", submission.portal_key
        )
        assert row is not None  # inserting found it, and submissions are never deleted while intake runs
        return StoredSubmission(bytes(row["body_digest"]), _receipt(row["response"]))

    async def details(self, submission_id: str) -> EncryptedDetails | None:
        """The encrypted details of a submission, if it was stored."""
        conn = await self._session.in_transaction()
        row = await conn.fetchrow(
            "SELECT key_id, ciphertext FROM personal_details WHERE submission_id = $1", submission_id
        )
        return (
            None if row is None else EncryptedDetails(submission_id, row["key_id"], bytes(row["ciphertext"]))
        )

    async def without_portal_key(self) -> list[tuple[str, str]]:
        """Rows stored before migration 003, by reference."""
        conn = await self._session.in_transaction()
        rows = await conn.fetch(
            "SELECT submission_id, client_id FROM submissions WHERE portal_key IS NULL ORDER BY submission_id"
        )
        return [(r["submission_id"], r["client_id"]) for r in rows]

    async def set_portal_keys(self, keys: Sequence[tuple[str, bytes]]) -> None:
        """One pipelined statement for all of them."""
        if keys:
            conn = await self._session.in_transaction()
            await conn.executemany("UPDATE submissions SET portal_key = $2 WHERE submission_id = $1", keys)

    async def details_not_under(self, key_id: str, limit: int) -> list[EncryptedDetails]:
        """Locked with SKIP LOCKED: two re-encryptions at once share the work instead of colliding."""
        conn = await self._session.in_transaction()
        rows = await conn.fetch(
            "SELECT submission_id, key_id, ciphertext FROM personal_details WHERE key_id NOT IN ($1, 'dek')"
            " ORDER BY submission_id LIMIT $2 FOR UPDATE SKIP LOCKED",
            key_id,
            limit,
        )
        return [EncryptedDetails(r["submission_id"], r["key_id"], bytes(r["ciphertext"])) for r in rows]

    async def replace_details(self, details: Sequence[EncryptedDetails]) -> None:
        """One pipelined statement for all of them."""
        if not details:
            return
        conn = await self._session.in_transaction()
        await conn.executemany(
            "UPDATE personal_details SET key_id = $2, ciphertext = $3 WHERE submission_id = $1",
            [(d.submission_id, d.key_id, d.ciphertext) for d in details],
        )

    async def documents_not_under(self, key_id: str, limit: int) -> list[EncryptedDocument]:
        """Locked with SKIP LOCKED, as the details are."""
        conn = await self._session.in_transaction()
        rows = await conn.fetch(
            f"SELECT {DOCUMENT_COLUMNS} FROM documents"
            " WHERE key_id NOT IN ($1, 'dek') ORDER BY submission_id, n LIMIT $2 FOR UPDATE SKIP LOCKED",
            key_id,
            limit,
        )
        return [document_of(r) for r in rows]

    async def replace_documents(self, documents: Sequence[EncryptedDocument]) -> None:
        """One pipelined statement for all of them."""
        if not documents:
            return
        conn = await self._session.in_transaction()
        await conn.executemany(
            "UPDATE documents SET key_id = $3, ciphertext = $4, name_ciphertext = $5"
            " WHERE submission_id = $1 AND n = $2",
            [(d.submission_id, d.info.n, d.key_id, d.ciphertext, d.name_ciphertext) for d in documents],
        )


def _data_key(submission: NewSubmission) -> tuple[str | None, bytes | None]:
    key = submission.data_key
    return (None, None) if key is None else (key.key_id, key.wrapped)


# What `document_of` reads.
DOCUMENT_COLUMNS = "submission_id, n, name, media_type, size, key_id, ciphertext, name_ciphertext"


def document_of(row: Any) -> EncryptedDocument:
    """A `documents` row (selected with DOCUMENT_COLUMNS)."""
    info = DocumentInfo(row["n"], row["name"], row["media_type"], row["size"])
    name = row["name_ciphertext"]
    return EncryptedDocument(
        row["submission_id"],
        info,
        row["key_id"],
        bytes(row["ciphertext"]),
        None if name is None else bytes(name),
    )
