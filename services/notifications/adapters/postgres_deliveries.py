"""Deliveries in Postgres: the sending ledger on the pool and the store in a unit of work.

The statements persist what the delivery state machine decided (domain/delivery.py). A claim is
a row's id and attempt number: every write for a claim names both and requires `sending`, so it
changes nothing once the reaper took the claim away (and another worker may have claimed the row
again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import asyncpg

from services.notifications.domain.delivery import Claim, Finish, RetryLater
from services.notifications.domain.outgoing import ClaimedDelivery
from services.notifications.domain.routing import NewDelivery
from shared.db import Conn
from shared.events import OutboxRow
from shared.outbox import insert_if

# The row and the worker's wake-up (delivered at commit) in one round trip; no row, no NOTIFY.
_INSERT_DELIVERY = (
    "WITH d AS (INSERT INTO deliveries (source_event_id, recipient, channel, kind, referral_id,"
    " family_key, subject, body_text, body_html, card, held, next_attempt_at, invitation)"
    " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)"
    " ON CONFLICT (source_event_id, recipient, channel) DO NOTHING RETURNING 1)"
    " SELECT pg_notify('deliveries_' || current_schema(), '') FROM d"
)
_CLAIM = (
    "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, handed_over_at = NULL,"
    " claimed_until = $2 + make_interval(secs => $3)"
)
_CLAIM_EMAIL = (
    _CLAIM + " WHERE id IN (SELECT id FROM deliveries WHERE status = 'pending' AND NOT held"
    "   AND channel = 'email' AND next_attempt_at <= $2 ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)"
    " RETURNING *"
)
_DUE_TEAMS_AND_DIGEST = (
    "SELECT EXISTS (SELECT 1 FROM deliveries WHERE channel = 'teams' AND status = 'pending'"
    "   AND NOT held AND next_attempt_at <= $1) AS teams,"
    " EXISTS (SELECT 1 FROM deliveries WHERE held AND status = 'pending' AND next_attempt_at <= $1)"
    "   AS digest"
)
# A Teams card waits for its webhook's slot as well; a claim's lease end is when the reaper acts.
_NEXT_DUE = (
    "SELECT least((SELECT min(CASE WHEN d.channel = 'teams' AND NOT d.held"
    "   THEN greatest(d.next_attempt_at, w.next_send_at) ELSE d.next_attempt_at END)"
    "   FROM deliveries d LEFT JOIN webhook_slots w ON w.recipient = d.recipient"
    "   WHERE d.status = 'pending'),"
    " (SELECT min(claimed_until) FROM deliveries WHERE status = 'sending'))"
)
_FREE_SLOTS = (
    "SELECT recipient FROM webhook_slots w WHERE next_send_at <= $1 AND EXISTS (SELECT 1"
    " FROM deliveries d WHERE d.recipient = w.recipient AND d.channel = 'teams'"
    " AND d.status = 'pending' AND NOT d.held AND d.next_attempt_at <= $1)"
    " FOR UPDATE SKIP LOCKED"
)
_CLAIM_TEAMS = (
    _CLAIM + " WHERE id = (SELECT min(id) FROM deliveries WHERE recipient = $1"
    " AND channel = 'teams' AND status = 'pending' AND NOT held AND next_attempt_at <= $2) RETURNING *"
)
HOLD_SLOT = "UPDATE webhook_slots SET next_send_at = greatest(next_send_at, $2) WHERE recipient = $1"
_FIRST_HELD = (
    "SELECT recipient, channel FROM deliveries WHERE held AND status = 'pending'"
    " AND next_attempt_at <= $1 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
)
_CLAIM_DIGEST = (
    _CLAIM + " WHERE id IN (SELECT id FROM deliveries WHERE held AND status = 'pending'"
    " AND recipient = $1 AND channel = $4 AND next_attempt_at <= $2 FOR UPDATE SKIP LOCKED) RETURNING *"
)
_HAND_OVER = (
    "UPDATE deliveries d SET handed_over_at = now()"
    " FROM unnest($1::bigint[], $2::int[]) AS c(id, attempts)"
    " WHERE d.id = c.id AND d.attempts = c.attempts AND d.status = 'sending' RETURNING d.id"
)
# A final outcome of a claim that still holds and, only then, its outcome event: a claim reaped
# while its send was slow keeps what the reaper made of it and publishes nothing more.
FINISH_SQL = insert_if(
    "UPDATE deliveries SET status = $2, last_error = $3, finished_at = now(),"
    " claimed_until = NULL WHERE id = $1 AND attempts = $8 AND status = 'sending' RETURNING 1",
    4,
)
_RETRY_LATER = (
    "UPDATE deliveries d SET status = 'pending', last_error = c.error, claimed_until = NULL,"
    " next_attempt_at = c.not_before"
    " FROM unnest($1::bigint[], $2::int[], $3::timestamptz[], $4::text[])"
    "   AS c(id, attempts, not_before, error)"
    " WHERE d.id = c.id AND d.attempts = c.attempts AND d.status = 'sending'"
)
_ABANDONED = "SELECT * FROM deliveries WHERE status = 'sending' AND claimed_until < $1 FOR UPDATE SKIP LOCKED"


def claimed(row: asyncpg.Record) -> ClaimedDelivery:
    """A claimed row as the domain sees it."""
    return ClaimedDelivery(
        Claim(row["id"], row["attempts"]), row["source_event_id"], row["recipient"], row["channel"],
        row["kind"], row["referral_id"], row["family_key"], row["subject"], row["body_text"],
        row["body_html"], row["card"], row["held"], row["handed_over_at"] is not None, row["invitation"],
    )  # fmt: skip


class PostgresDeliveryLedger:
    """The ledger on the pool: each call is one statement, committed when it returns."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def claim_email(self, now: datetime, limit: int, lease: timedelta) -> list[ClaimedDelivery]:
        """Move due, not-held email deliveries to `sending` under a lease, committed before any send."""
        rows = await self._pool.fetch(_CLAIM_EMAIL, limit, now, lease.total_seconds())
        return sorted((claimed(r) for r in rows), key=_oldest_first)

    async def due_teams_and_digest(self, now: datetime) -> tuple[bool, bool]:
        """Most rounds neither is due, and then the worker opens no transaction for them (bench/)."""
        row = await self._pool.fetchrow(_DUE_TEAMS_AND_DIGEST, now)
        assert row is not None
        return row["teams"], row["digest"]

    async def next_due(self) -> datetime | None:
        """When the worker should look again at the latest (both parts use partial indexes)."""
        found: datetime | None = await self._pool.fetchval(_NEXT_DUE)
        return found

    async def hand_over(self, claims: Sequence[Claim]) -> set[int]:
        """Record, committed, that these claims' messages are about to leave."""
        ids, attempts = [c.delivery_id for c in claims], [c.attempt for c in claims]
        return {r["id"] for r in await self._pool.fetch(_HAND_OVER, ids, attempts)}

    async def counts(self) -> Mapping[tuple[str, str], int]:
        """Deliveries by channel and status."""
        rows = await self._pool.fetch("SELECT channel, status, count(*) AS n FROM deliveries GROUP BY 1, 2")
        return {(r["channel"], r["status"]): r["n"] for r in rows}


class PostgresDeliveryStore:
    """Deliveries on the unit of work's connection, in its transaction."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add(self, deliveries: Sequence[NewDelivery]) -> None:
        """All the rows with one statement (asyncpg pipelines executemany)."""
        if deliveries:
            await self._conn.executemany(_INSERT_DELIVERY, [_params(d) for d in deliveries])

    async def claim_teams(self, now: datetime, gap: timedelta, lease: timedelta) -> list[ClaimedDelivery]:
        """At most the oldest due delivery per webhook whose slot is free; the slot moves on in the
        same transaction, so one message per `gap` per webhook holds across restarts."""
        found = []
        for slot in await self._conn.fetch(_FREE_SLOTS, now):
            row = await self._conn.fetchrow(_CLAIM_TEAMS, slot["recipient"], now, lease.total_seconds())
            await self._conn.execute(HOLD_SLOT, slot["recipient"], now + gap)
            if row is not None:
                found.append(claimed(row))
        return found

    async def claim_digest(self, now: datetime, lease: timedelta) -> list[ClaimedDelivery]:
        """All due held deliveries of one recipient x channel, claimed together for one digest."""
        first = await self._conn.fetchrow(_FIRST_HELD, now)
        if first is None:
            return []
        rows = await self._conn.fetch(
            _CLAIM_DIGEST, first["recipient"], now, lease.total_seconds(), first["channel"]
        )
        return sorted((claimed(r) for r in rows), key=_oldest_first)

    async def finish(self, outcomes: Sequence[tuple[Finish, OutboxRow]]) -> None:
        """Final statuses with their outcome events, all in one round trip."""
        if outcomes:
            await self._conn.executemany(
                FINISH_SQL,
                [(f.claim.delivery_id, f.status.value, f.error, *event, f.claim.attempt)
                 for f, event in outcomes],
            )  # fmt: skip

    async def retry_later(self, retries: Sequence[RetryLater]) -> None:
        """Back to pending, each until its own time, in one statement."""
        if retries:
            await self._conn.execute(
                _RETRY_LATER,
                [r.claim.delivery_id for r in retries], [r.claim.attempt for r in retries],
                [r.not_before for r in retries], [r.error for r in retries],
            )  # fmt: skip

    async def abandoned(self, now: datetime) -> list[ClaimedDelivery]:
        """Deliveries left in `sending` past their lease: the sender died or stalled. Locked."""
        return [claimed(r) for r in await self._conn.fetch(_ABANDONED, now)]


def _oldest_first(delivery: ClaimedDelivery) -> int:
    # UPDATE … RETURNING gives no order; the stores agree on oldest first.
    return delivery.claim.delivery_id


def _params(d: NewDelivery) -> tuple[object, ...]:
    return (
        d.source_event_id, d.recipient, d.channel, d.kind, d.referral_id, d.family_key,
        d.subject, d.body_text, d.body_html, d.card, d.held, d.not_before, d.invitation,
    )  # fmt: skip
