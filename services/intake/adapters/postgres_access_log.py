"""The access log in Postgres (`005_access_log.sql`): append-only, hash-chained, gap-free `seq`.

Appends are serialized by a transaction-scoped advisory lock taken before the last row is read,
so two appends never chain to the same predecessor; the lock is held to the commit, which comes
straight after (a sequence is no use: it leaves gaps on rollback; `FOR UPDATE` would need an
UPDATE privilege the table does not grant).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.intake.adapters.postgres_session import Session
from services.intake.domain.access_chain import chained
from services.intake.domain.access_log import (
    AccessAction,
    AccessEntry,
    AccessRelation,
    LoggedEntry,
    Outcome,
)
from services.intake.ports import AccessLogQuery, AccessLogUnavailable
from shared.db import lock_id

APPEND_LOCK = lock_id("intake:access_log")
_COLUMNS = (
    "seq, at, staff, role, relation, referral_id, child_key, action, reason, outcome, client_addr,"
    " request_id, prev_hash, hash"
)
_INSERT = f"INSERT INTO access_log ({_COLUMNS}) VALUES ({', '.join(f'${n}' for n in range(1, 15))})"


def logged_entry(row: Any) -> LoggedEntry:
    """An access_log row as the domain's entry."""
    entry = AccessEntry(
        at=row["at"], staff=row["staff"], role=row["role"], relation=AccessRelation(row["relation"]),
        referral_id=row["referral_id"], child_key=row["child_key"], action=AccessAction(row["action"]),
        reason=row["reason"], outcome=Outcome(row["outcome"]), client_addr=row["client_addr"],
        request_id=row["request_id"],
    )  # fmt: skip
    return LoggedEntry(row["seq"], entry, bytes(row["prev_hash"]), bytes(row["hash"]))


class PostgresAccessLogStore:
    """The access log port on the unit of work's connection, in its transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def append(self, entry: AccessEntry) -> LoggedEntry:
        """Lock, read the last row, chain and insert; any database refusal is AccessLogUnavailable."""
        conn = await self._session.in_transaction()
        try:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", APPEND_LOCK)
            last = await conn.fetchrow(f"SELECT {_COLUMNS} FROM access_log ORDER BY seq DESC LIMIT 1")
            row = chained(None if last is None else logged_entry(last), entry)
            e = row.entry
            await conn.execute(
                _INSERT, row.seq, e.at, e.staff, e.role, e.relation.value, e.referral_id, e.child_key,
                e.action.value, e.reason, e.outcome.value, e.client_addr, e.request_id, row.prev_hash,
                row.hash,
            )  # fmt: skip
        except asyncpg.PostgresError as exc:
            raise AccessLogUnavailable(type(exc).__name__) from exc
        return row

    async def query(self, query: AccessLogQuery) -> list[LoggedEntry]:
        """Rows matching every given filter, in chain order."""
        conn = await self._session.in_transaction()
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM access_log WHERE seq > $1"
            " AND ($2::text IS NULL OR staff = $2) AND ($3::text IS NULL OR referral_id = $3)"
            " AND ($4::text IS NULL OR child_key = $4)"
            " AND ($5::text[] IS NULL OR referral_id IN"
            "      (SELECT referral_id FROM access_projection WHERE team = ANY($5)))"
            " AND ($6::timestamptz IS NULL OR at >= $6) AND ($7::timestamptz IS NULL OR at < $7)"
            " ORDER BY seq LIMIT $8",
            query.after_seq, query.staff, query.referral_id, query.child_key,
            None if query.teams is None else sorted(query.teams), query.start, query.end, query.limit,
        )  # fmt: skip
        return [logged_entry(r) for r in rows]

    async def between(self, start: datetime, end: datetime) -> list[LoggedEntry]:
        """Every row with start <= at < end, in chain order."""
        conn = await self._session.in_transaction()
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM access_log WHERE at >= $1 AND at < $2 ORDER BY seq", start, end
        )
        return [logged_entry(r) for r in rows]

    async def head(self) -> LoggedEntry | None:
        """The row with the highest seq."""
        conn = await self._session.in_transaction()
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM access_log ORDER BY seq DESC LIMIT 1")
        return None if row is None else logged_entry(row)

    async def chain(self, after_seq: int, limit: int) -> list[LoggedEntry]:
        """Rows in seq order after `after_seq`."""
        conn = await self._session.in_transaction()
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM access_log WHERE seq > $1 ORDER BY seq LIMIT $2", after_seq, limit
        )
        return [logged_entry(r) for r in rows]
