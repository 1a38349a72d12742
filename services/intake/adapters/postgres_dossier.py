"""Postgres stores of the dossier's state: referral facts with their projection, registration and
grants (`004_access.sql`), and the access projection fed by assignment's events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.intake.adapters.postgres_session import Session
from services.intake.adapters.postgres_submissions import DOCUMENT_COLUMNS, document_of
from services.intake.domain.dossier import (
    Assigned,
    Projection,
    ReferralFacts,
    Registration,
    Tracked,
    Updated,
)
from services.intake.domain.dossier_access import Assignment
from services.intake.domain.submissions import DocumentInfo, EncryptedDocument

_FIND = """
SELECT r.referral_id, r.submission_id, r.child_index, r.child_key, r.family_key, r.received_at,
       r.protected_identity,
       ARRAY(SELECT s.referral_id FROM referrals s
             WHERE s.submission_id = r.submission_id AND s.referral_id <> r.referral_id
             ORDER BY s.child_index) AS siblings,
       p.referral_id IS NOT NULL AS projected, p.team, p.caseworker, p.mentor, p.status,
       p.protection_assessed, p.protection_assessment_due, p.preliminary_assessment_due,
       p.investigation_due, p.feedback_due,
       g.system_case_number, g.registered_at, g.registered_by, g.recorded_at,
       (SELECT max(b.expires_at) FROM break_glass_grants b
        WHERE b.referral_id = r.referral_id AND b.staff = $2 AND b.expires_at > $3) AS grant_until
FROM referrals r
LEFT JOIN access_projection p ON p.referral_id = r.referral_id
LEFT JOIN registrations g ON g.referral_id = r.referral_id
WHERE r.referral_id = $1
"""

_PROJECTION_COLUMNS = """team, caseworker, mentor, status, protection_assessed, protection_assessment_due,
       preliminary_assessment_due, investigation_due, feedback_due"""

_ASSIGNED = """
INSERT INTO access_projection AS p (referral_id, team, caseworker, mentor, status,
                                    protection_assessment_due, preliminary_assessment_due)
VALUES ($1, $2, $3, $4, 'assigned', $5, $6)
ON CONFLICT (referral_id) DO UPDATE SET
    team = EXCLUDED.team, caseworker = EXCLUDED.caseworker, mentor = EXCLUDED.mentor,
    status = coalesce(p.status, EXCLUDED.status),
    protection_assessment_due = coalesce(EXCLUDED.protection_assessment_due, p.protection_assessment_due),
    preliminary_assessment_due = coalesce(EXCLUDED.preliminary_assessment_due, p.preliminary_assessment_due),
    updated_at = now()
"""

_UPDATED = """
INSERT INTO access_projection AS p (referral_id, status, protection_assessed, investigation_due, feedback_due)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (referral_id) DO UPDATE SET
    status = EXCLUDED.status,
    protection_assessed = p.protection_assessed OR EXCLUDED.protection_assessed,
    investigation_due = coalesce(EXCLUDED.investigation_due, p.investigation_due),
    feedback_due = coalesce(EXCLUDED.feedback_due, p.feedback_due),
    updated_at = now()
"""


def projection_of(row: Any) -> Projection:
    """A projection row (or the projection columns of a joined row) as the domain's projection."""
    assignment = None
    if row["team"] is not None and row["caseworker"] is not None:
        assignment = Assignment(row["team"], row["caseworker"], row["mentor"])
    return Projection(
        assignment=assignment,
        status=row["status"],
        protection_assessed=row["protection_assessed"],
        protection_assessment_due=row["protection_assessment_due"],
        preliminary_assessment_due=row["preliminary_assessment_due"],
        investigation_due=row["investigation_due"],
        feedback_due=row["feedback_due"],
    )


def _tracked(row: Any) -> Tracked:
    facts = ReferralFacts(
        row["referral_id"], row["submission_id"], row["child_index"], row["child_key"], row["family_key"],
        row["received_at"], row["protected_identity"], tuple(row["siblings"]),
    )  # fmt: skip
    registration = None
    if row["system_case_number"] is not None:
        registration = Registration(
            row["system_case_number"], row["registered_at"], row["registered_by"], row["recorded_at"]
        )
    projection = projection_of(row) if row["projected"] else None
    return Tracked(facts, projection, registration, row["grant_until"])


class PostgresDossierStore:
    """Referral facts, registrations and grants in intake's schema."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def find(self, referral_id: str, staff: str, now: datetime) -> Tracked | None:
        """One statement: the referral, its siblings, projection, registration and grant."""
        conn = await self._session.in_transaction()
        row = await conn.fetchrow(_FIND, referral_id, staff, now)
        return None if row is None else _tracked(row)

    async def details_of(self, submission_id: str) -> tuple[str, bytes] | None:
        """The encrypted details of the submission."""
        conn = await self._session.in_transaction()
        row = await conn.fetchrow(
            "SELECT key_id, ciphertext FROM personal_details WHERE submission_id = $1", submission_id
        )
        return None if row is None else (row["key_id"], bytes(row["ciphertext"]))

    async def documents_of(self, submission_id: str) -> list[DocumentInfo]:
        """The submission's documents' metadata, by n."""
        conn = await self._session.in_transaction()
        rows = await conn.fetch(
            "SELECT n, name, media_type, size FROM documents WHERE submission_id = $1 ORDER BY n",
            submission_id,
        )
        return [DocumentInfo(r["n"], r["name"], r["media_type"], r["size"]) for r in rows]

    async def document_names_of(self, submission_id: str) -> dict[int, tuple[str, bytes]]:
        """The documents' encrypted file names, where they have one."""
        conn = await self._session.in_transaction()
        rows = await conn.fetch(
            "SELECT n, key_id, name_ciphertext FROM documents"
            " WHERE submission_id = $1 AND name_ciphertext IS NOT NULL",
            submission_id,
        )
        return {r["n"]: (r["key_id"], bytes(r["name_ciphertext"])) for r in rows}

    async def document(self, submission_id: str, n: int) -> EncryptedDocument | None:
        """One document of the submission, encrypted."""
        conn = await self._session.in_transaction()
        row = await conn.fetchrow(
            f"SELECT {DOCUMENT_COLUMNS} FROM documents WHERE submission_id = $1 AND n = $2",
            submission_id,
            n,
        )
        return None if row is None else document_of(row)

    async def register(self, referral_id: str, registration: Registration) -> Registration:
        """Insert unless registered; a concurrent registration waits on the key, then is read."""
        conn = await self._session.in_transaction()
        r = registration
        await conn.execute(
            "INSERT INTO registrations (referral_id, system_case_number, registered_at, registered_by,"
            " recorded_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (referral_id) DO NOTHING",
            referral_id, r.system_case_number, r.registered_at, r.registered_by, r.recorded_at,
        )  # fmt: skip
        row = await conn.fetchrow(
            "SELECT system_case_number, registered_at, registered_by, recorded_at FROM registrations"
            " WHERE referral_id = $1",
            referral_id,
        )
        assert row is not None  # inserted or found
        return Registration(
            row["system_case_number"], row["registered_at"], row["registered_by"], row["recorded_at"]
        )

    async def grant(self, referral_id: str, staff: str, granted_at: datetime, expires_at: datetime) -> None:
        """Store the grant."""
        conn = await self._session.in_transaction()
        await conn.execute(
            "INSERT INTO break_glass_grants (referral_id, staff, granted_at, expires_at)"
            " VALUES ($1, $2, $3, $4)",
            referral_id, staff, granted_at, expires_at,
        )  # fmt: skip


class PostgresAccessProjectionStore:
    """The access projection in intake's schema: every write an upsert, so a replay changes nothing
    that a later event set."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def assigned(self, changes: Sequence[Assigned]) -> None:
        """One pipelined upsert per assignment, in order."""
        if changes:
            conn = await self._session.in_transaction()
            await conn.executemany(
                _ASSIGNED,
                [
                    (c.referral_id, c.team, c.caseworker, c.mentor, c.protection_assessment_due,
                     c.preliminary_assessment_due)
                    for c in changes
                ],
            )  # fmt: skip

    async def updated(self, changes: Sequence[Updated]) -> None:
        """One pipelined upsert per update, in order."""
        if changes:
            conn = await self._session.in_transaction()
            await conn.executemany(
                _UPDATED,
                [
                    (c.referral_id, c.status, c.protection_assessed, c.investigation_due, c.feedback_due)
                    for c in changes
                ],
            )

    async def get(self, referral_id: str) -> Projection | None:
        """The projection row, if any."""
        conn = await self._session.in_transaction()
        row = await conn.fetchrow(
            f"SELECT {_PROJECTION_COLUMNS} FROM access_projection WHERE referral_id = $1", referral_id
        )
        return None if row is None else projection_of(row)
