"""Postgres state of the Open ePlatform poller: a cursor per family, one state row per instance,
and the advisory lock that gives one poller its turn."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg

from services.intake.adapters.postgres_session import Session
from services.intake.domain.open_eplatform import (
    AWAITING_CALLBACK,
    REMAPPABLE,
    InstanceState,
    KeptRaw,
    TrackedInstance,
)
from shared.db import lock_id

_POLLER_LOCK = lock_id("intake:oep-poller")

# `domain.open_eplatform.state_after_failure` in SQL: rejected once the attempts reach the bound.
_RECORD_FAILURE = (
    "INSERT INTO oep_instances (flow_instance_id, family_id, state, attempts, last_error, first_submitted)"
    " VALUES ($1, $2, CASE WHEN $4 <= 1 THEN 'rejected' ELSE 'received' END, 1, $3, $5)"
    " ON CONFLICT (flow_instance_id) DO UPDATE SET attempts = oep_instances.attempts + 1,"
    " last_error = $3, updated_at = now(), first_submitted = COALESCE($5, oep_instances.first_submitted),"
    " state = CASE WHEN oep_instances.attempts + 1 >= $4 THEN 'rejected' ELSE 'received' END"
    " WHERE oep_instances.state = 'received' RETURNING state, attempts"
)
# `domain.open_eplatform.cursor_after` in SQL, in the same round trip as the write.
_MOVE_CURSOR = (
    "WITH f AS (SELECT * FROM oep_instances WHERE family_id = $1),"
    " target AS (SELECT CASE"
    "   WHEN EXISTS (SELECT 1 FROM f WHERE state = 'received' AND first_submitted IS NULL) THEN NULL"
    "   WHEN EXISTS (SELECT 1 FROM f WHERE state = 'received')"
    "     THEN (SELECT min(first_submitted) FROM f WHERE state = 'received')"
    "   ELSE GREATEST((SELECT max(first_submitted) FROM f), $2::timestamptz) END AS at)"
    " INSERT INTO oep_cursors (family_id, last_seen) SELECT $1, at FROM target WHERE at IS NOT NULL"
    " ON CONFLICT (family_id) DO UPDATE SET last_seen = EXCLUDED.last_seen"
)


class PostgresOepInstanceStore:
    """The poller's cursors and instance states in intake's schema."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def state_of(self, flow_instance_id: int) -> InstanceState | None:
        """The instance's state, or None if it was never seen."""
        conn = await self._session.in_transaction()
        state: str | None = await conn.fetchval(
            "SELECT state FROM oep_instances WHERE flow_instance_id = $1", flow_instance_id
        )
        return None if state is None else InstanceState(state)

    async def record_stored(
        self,
        flow_instance_id: int,
        family_id: str,
        first_submitted: datetime,
        submission_id: str,
        referral_ids: Sequence[str],
    ) -> None:
        """Mark the instance stored, in the transaction that stored its submission."""
        conn = await self._session.in_transaction()
        await conn.execute(
            "INSERT INTO oep_instances (flow_instance_id, family_id, state, attempts, first_submitted,"
            " submission_id, referral_ids) VALUES ($1, $2, 'stored', 1, $3, $4, $5)"
            " ON CONFLICT (flow_instance_id) DO UPDATE SET state = 'stored',"
            " attempts = oep_instances.attempts + 1, first_submitted = $3, submission_id = $4,"
            " referral_ids = $5, last_error = NULL, updated_at = now()",
            flow_instance_id,
            family_id,
            first_submitted,
            submission_id,
            list(referral_ids),
        )
        # Its original is document 1 of the submission now.
        await conn.execute("DELETE FROM oep_raw_documents WHERE flow_instance_id = $1", flow_instance_id)

    async def record_failure(
        self,
        flow_instance_id: int,
        family_id: str,
        reason: str,
        max_attempts: int,
        first_submitted: datetime | None,
    ) -> tuple[InstanceState, int]:
        """Count a failed attempt; after `max_attempts` the instance is rejected."""
        conn = await self._session.in_transaction()
        row = await conn.fetchrow(
            _RECORD_FAILURE, flow_instance_id, family_id, reason, max_attempts, first_submitted
        )
        if row is None:
            raise LookupError(f"instance {flow_instance_id} is no longer to be imported")
        return InstanceState(row["state"]), row["attempts"]

    async def advance(
        self, flow_instance_id: int, from_state: InstanceState, to_state: InstanceState
    ) -> None:
        """Move an instance on after a callback succeeded."""
        conn = await self._session.in_transaction()
        await conn.execute(
            "UPDATE oep_instances SET state = $3, updated_at = now()"
            " WHERE flow_instance_id = $1 AND state = $2",
            flow_instance_id,
            from_state.value,
            to_state.value,
        )

    async def awaiting_callback(self, flow_instance_id: int | None = None) -> list[TrackedInstance]:
        """Instances whose callbacks are not all made yet (all of them, or just the one given)."""
        conn = await self._session.in_transaction()
        rows = await conn.fetch(
            "SELECT flow_instance_id, state, referral_ids FROM oep_instances"
            " WHERE state = ANY($1::text[]) AND ($2::bigint IS NULL OR flow_instance_id = $2)"
            " ORDER BY flow_instance_id",
            sorted(s.value for s in AWAITING_CALLBACK),
            flow_instance_id,
        )
        return [
            TrackedInstance(r["flow_instance_id"], InstanceState(r["state"]), tuple(r["referral_ids"]))
            for r in rows
        ]

    async def cursor(self, family_id: str) -> datetime | None:
        """The instant the family was last polled up to."""
        conn = await self._session.in_transaction()
        seen: datetime | None = await conn.fetchval(
            "SELECT last_seen FROM oep_cursors WHERE family_id = $1", family_id
        )
        return seen

    async def move_cursor(self, family_id: str, floor: datetime | None = None) -> None:
        """Move the cursor to the newest submission seen (or `floor`), never past one still retried."""
        conn = await self._session.in_transaction()
        await conn.execute(_MOVE_CURSOR, family_id, floor)

    async def keep_raw(
        self, flow_instance_id: int, charset: str | None, key_id: str, ciphertext: bytes, size: int
    ) -> None:
        """Keep (or replace) the encrypted raw document of an instance that has a row."""
        conn = await self._session.in_transaction()
        await conn.execute(
            "INSERT INTO oep_raw_documents (flow_instance_id, charset, size, key_id, ciphertext)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (flow_instance_id) DO UPDATE SET"
            " charset = $2, size = $3, key_id = $4, ciphertext = $5, kept_at = now()",
            flow_instance_id,
            charset,
            size,
            key_id,
            ciphertext,
        )

    async def raw_of(self, flow_instance_id: int | None = None) -> list[KeptRaw]:
        """Kept raw documents of instances still to be re-mapped, by id."""
        conn = await self._session.in_transaction()
        rows = await conn.fetch(
            "SELECT i.flow_instance_id, i.family_id, i.state, r.charset, r.key_id, r.ciphertext"
            " FROM oep_raw_documents r JOIN oep_instances i USING (flow_instance_id)"
            " WHERE i.state = ANY($1::text[]) AND ($2::bigint IS NULL OR i.flow_instance_id = $2)"
            " ORDER BY i.flow_instance_id",
            sorted(s.value for s in REMAPPABLE),
            flow_instance_id,
        )
        return [
            KeptRaw(r["flow_instance_id"], r["family_id"], InstanceState(r["state"]), r["charset"],
                    r["key_id"], r["ciphertext"])
            for r in rows
        ]  # fmt: skip

    async def raw_not_under(self, key_id: str, limit: int) -> list[KeptRaw]:
        """Kept raw documents under another key, locked (others skip them) until the commit."""
        conn = await self._session.in_transaction()
        rows = await conn.fetch(
            "SELECT r.flow_instance_id, i.family_id, i.state, r.charset, r.key_id, r.ciphertext"
            " FROM oep_raw_documents r JOIN oep_instances i USING (flow_instance_id)"
            " WHERE r.key_id <> $1 ORDER BY r.flow_instance_id LIMIT $2 FOR UPDATE OF r SKIP LOCKED",
            key_id,
            limit,
        )
        return [
            KeptRaw(r["flow_instance_id"], r["family_id"], InstanceState(r["state"]), r["charset"],
                    r["key_id"], r["ciphertext"])
            for r in rows
        ]  # fmt: skip

    async def record_gone(
        self, flow_instance_id: int, family_id: str | None, reason: str
    ) -> InstanceState | None:
        """Mark an instance gone (unless done) and return the state it had."""
        conn = await self._session.in_transaction()
        before: str | None = await conn.fetchval(
            "SELECT state FROM oep_instances WHERE flow_instance_id = $1 FOR UPDATE", flow_instance_id
        )
        if before == InstanceState.DONE.value:
            return InstanceState.DONE
        if before is None and family_id is None:
            raise LookupError(f"instance {flow_instance_id} has no row and no family was given")
        if before is None:
            await conn.execute(
                "INSERT INTO oep_instances (flow_instance_id, family_id, state, attempts, last_error)"
                " VALUES ($1, $2, 'gone', 1, $3)",
                flow_instance_id,
                family_id,
                reason,
            )
        else:
            await conn.execute(
                "UPDATE oep_instances SET state = 'gone', last_error = $2, updated_at = now()"
                " WHERE flow_instance_id = $1",
                flow_instance_id,
                reason,
            )
        return None if before is None else InstanceState(before)


class PostgresPollerTurn:
    """The poller's turn as a transaction-scoped advisory lock, held on a connection of its own."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        """Yields whether this poller got the turn; the lock ends with the round's transaction."""
        async with self._pool.acquire() as conn, conn.transaction():
            yield bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _POLLER_LOCK))
