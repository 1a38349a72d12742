"""Postgres side of retention (migration 010): data keys, legal holds, the erasure and its log;
stores of intake's unit of work (`adapters/postgres.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.intake.adapters.postgres_session import Session
from services.intake.domain.retention import HoldScope
from services.intake.domain.submissions import DataKey
from services.intake.ports import Erasure, HeldAbout, Hold, RetentionFacts

_HELD = """EXISTS (SELECT 1 FROM legal_holds h WHERE h.lifted_at IS NULL
       AND ((h.scope = 'referral' AND h.referral_id = r.referral_id)
            OR (h.scope = 'child' AND h.child_key = r.child_key)))"""

_WEIGH = f"""
SELECT r.referral_id, r.submission_id, r.child_index, r.child_key, g.registered_at, {_HELD} AS held
FROM referrals r
LEFT JOIN registrations g ON g.referral_id = r.referral_id
WHERE NOT EXISTS (SELECT 1 FROM retention_log l WHERE l.referral_id = r.referral_id)
ORDER BY r.referral_id
"""

# Crypto-shredding: the data key goes; ciphertext still under a global key (from before data keys)
# cannot be shredded that way, so it is deleted; the body's keyed digest goes with them.
_ERASE = """
WITH k AS (
    INSERT INTO data_keys (submission_id, destroyed_at) SELECT unnest($1::text[]), $2
    ON CONFLICT (submission_id) DO UPDATE SET key_id = NULL, wrapped = NULL,
        destroyed_at = coalesce(data_keys.destroyed_at, EXCLUDED.destroyed_at)
), d AS (
    DELETE FROM personal_details WHERE submission_id = ANY($1) AND key_id <> 'dek'
), a AS (
    DELETE FROM documents WHERE submission_id = ANY($1) AND key_id <> 'dek'
)
UPDATE submissions SET body_digest = '\\x'::bytea WHERE submission_id = ANY($1)
"""

_ABOUT = f"""
SELECT r.referral_id, CASE WHEN r.child_key = $1 THEN 'child' ELSE 'guardian' END AS role, r.kind,
       r.received_at, g.registered_at, {_HELD} AS held,
       l.submission_id AS l_submission_id, l.child_key AS l_child_key, l.erased_at, l.rule, l.run_id
FROM referrals r
LEFT JOIN registrations g ON g.referral_id = r.referral_id
LEFT JOIN retention_log l ON l.referral_id = r.referral_id
WHERE r.child_key = $1 OR r.family_key = $2
ORDER BY r.received_at, r.referral_id
"""

_HOLD_COLUMNS = "scope, referral_id, child_key, reason, set_by, set_at, lifted_by, lifted_at"


def _data_key(row: Any) -> DataKey:
    wrapped = row["wrapped"]
    return DataKey(
        row["submission_id"], row["key_id"], None if wrapped is None else bytes(wrapped), row["destroyed_at"]
    )


def _hold(row: Any) -> Hold:
    return Hold(
        HoldScope(row["scope"]), row["referral_id"], row["child_key"], row["reason"], row["set_by"],
        row["set_at"], row["lifted_by"], row["lifted_at"],
    )  # fmt: skip


def _erasure(row: Any, prefix: str = "") -> Erasure:
    return Erasure(
        row["referral_id"], row[f"{prefix}submission_id"], row[f"{prefix}child_key"], row["erased_at"],
        row["rule"], row["run_id"],
    )  # fmt: skip


def _facts(row: Any) -> RetentionFacts:
    return RetentionFacts(
        row["referral_id"], row["submission_id"], row["child_index"], row["child_key"], row["registered_at"],
        row["held"],
    )  # fmt: skip


def _held_about(row: Any) -> HeldAbout:
    erasure = None if row["erased_at"] is None else _erasure(row, "l_")
    return HeldAbout(
        row["referral_id"], row["role"], row["kind"], row["received_at"], row["registered_at"], erasure,
        row["held"],
    )  # fmt: skip


class PostgresDataKeyStore:
    """The `data_keys` table."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def get(self, submission_id: str) -> DataKey | None:
        """The submission's key row, if any."""
        conn = await self._session.in_transaction()
        row = await conn.fetchrow(
            "SELECT submission_id, key_id, wrapped, destroyed_at FROM data_keys WHERE submission_id = $1",
            submission_id,
        )
        return None if row is None else _data_key(row)

    async def add(self, keys: Sequence[DataKey]) -> None:
        """One pipelined insert; a key already stored wins."""
        if keys:
            conn = await self._session.in_transaction()
            await conn.executemany(
                "INSERT INTO data_keys (submission_id, key_id, wrapped) VALUES ($1, $2, $3)"
                " ON CONFLICT (submission_id) DO NOTHING",
                [(k.submission_id, k.key_id, k.wrapped) for k in keys],
            )

    async def not_under(self, key_id: str, limit: int) -> list[DataKey]:
        """Locked with SKIP LOCKED, as the details are."""
        conn = await self._session.in_transaction()
        rows = await conn.fetch(
            "SELECT submission_id, key_id, wrapped, destroyed_at FROM data_keys"
            " WHERE wrapped IS NOT NULL AND key_id <> $1 ORDER BY submission_id LIMIT $2"
            " FOR UPDATE SKIP LOCKED",
            key_id,
            limit,
        )
        return [_data_key(r) for r in rows]

    async def rewrap(self, keys: Sequence[DataKey]) -> None:
        """One pipelined update; a key destroyed meanwhile stays destroyed."""
        if keys:
            conn = await self._session.in_transaction()
            await conn.executemany(
                "UPDATE data_keys SET key_id = $2, wrapped = $3"
                " WHERE submission_id = $1 AND wrapped IS NOT NULL",
                [(k.submission_id, k.key_id, k.wrapped) for k in keys],
            )


class PostgresRetentionStore:
    """Legal holds, the retention log and the erasure, in intake's schema."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def weigh(self) -> list[RetentionFacts]:
        """SHARE lock on the holds: a hold set meanwhile waits for the erasure, never misses it."""
        conn = await self._session.in_transaction()
        await conn.execute("LOCK TABLE legal_holds IN SHARE MODE")
        rows = await conn.fetch(_WEIGH)
        return [_facts(r) for r in rows]

    async def erase(self, erasures: Sequence[Erasure], at: datetime) -> None:
        """Keys destroyed and log rows written in this unit of work's transaction."""
        if not erasures:
            return
        conn = await self._session.in_transaction()
        await conn.execute(_ERASE, sorted({e.submission_id for e in erasures}), at)
        await conn.executemany(
            "INSERT INTO retention_log (referral_id, submission_id, child_key, erased_at, rule, run_id)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (referral_id) DO NOTHING",
            [(e.referral_id, e.submission_id, e.child_key, e.erased_at, e.rule, e.run_id) for e in erasures],
        )

    async def erasure(self, referral_id: str) -> Erasure | None:
        """The log row, if any."""
        conn = await self._session.in_transaction()
        row = await conn.fetchrow(
            "SELECT referral_id, submission_id, child_key, erased_at, rule, run_id FROM retention_log"
            " WHERE referral_id = $1",
            referral_id,
        )
        return None if row is None else _erasure(row)

    async def set_hold(self, hold: Hold) -> Hold:
        """Insert unless active (the partial unique index decides), then read the active one."""
        conn = await self._session.in_transaction()
        h = hold
        await conn.execute(
            "INSERT INTO legal_holds (scope, referral_id, child_key, reason, set_by, set_at)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (scope, referral_id) WHERE lifted_at IS NULL"
            " DO NOTHING",
            h.scope.value, h.referral_id, h.child_key, h.reason, h.set_by, h.set_at,
        )  # fmt: skip
        row = await conn.fetchrow(
            f"SELECT {_HOLD_COLUMNS} FROM legal_holds WHERE scope = $1 AND referral_id = $2"
            " AND lifted_at IS NULL",
            h.scope.value,
            h.referral_id,
        )
        assert row is not None  # inserted or found
        return _hold(row)

    async def lift_hold(self, scope: HoldScope, referral_id: str, by: str, at: datetime) -> Hold | None:
        """Mark the active hold lifted; the row stays."""
        conn = await self._session.in_transaction()
        row = await conn.fetchrow(
            f"UPDATE legal_holds SET lifted_by = $3, lifted_at = $4 WHERE scope = $1 AND referral_id = $2"
            f" AND lifted_at IS NULL RETURNING {_HOLD_COLUMNS}",
            scope.value,
            referral_id,
            by,
            at,
        )
        return None if row is None else _hold(row)

    async def about(self, child_key: str, family_key: str) -> list[HeldAbout]:
        """One statement over referrals, registrations, holds and the retention log."""
        conn = await self._session.in_transaction()
        rows = await conn.fetch(_ABOUT, child_key, family_key)
        return [_held_about(r) for r in rows]
