"""Postgres adapter for deliveries: create once, claim (rate-limited per webhook), record outcomes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from shared.db import Conn
from shared.events import OutboxRow
from shared.outbox import insert_if


@dataclass(frozen=True)
class NewDelivery:
    """A delivery to create for a source event.

    `held` keeps it for the next digest, due at `not_before`. An unheld delivery is due at
    `not_before` too: the service's clock, the one every claim compares with (`None`: the
    database's clock, for callers without one).
    """

    source_event_id: uuid.UUID
    recipient: str
    channel: str
    kind: str
    referral_id: str | None
    family_key: str
    subject: str
    body_text: str
    body_html: str | None = None
    card: str | None = None
    not_before: datetime | None = None
    held: bool = False


# The row and the worker's wake-up (delivered at commit) in one round trip; no row, no NOTIFY.
_INSERT_DELIVERY = (
    "WITH d AS (INSERT INTO deliveries (source_event_id, recipient, channel, kind, referral_id,"
    " family_key, subject, body_text, body_html, card, held, next_attempt_at)"
    " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11, coalesce($12, now()))"
    " ON CONFLICT (source_event_id, recipient, channel) DO NOTHING RETURNING 1)"
    " SELECT pg_notify('deliveries_' || current_schema(), '') FROM d"
)
_INSERT_SLOT = "INSERT INTO webhook_slots (recipient) VALUES ($1) ON CONFLICT DO NOTHING"


def _delivery_params(d: NewDelivery) -> tuple[object, ...]:
    return (
        d.source_event_id, d.recipient, d.channel, d.kind, d.referral_id, d.family_key,
        d.subject, d.body_text, d.body_html, d.card, d.held, d.not_before,
    )  # fmt: skip


async def create_delivery(conn: Conn, d: NewDelivery) -> bool:
    """Insert a pending delivery; False when this event x recipient x channel already has one."""
    inserted = await conn.fetch(_INSERT_DELIVERY, *_delivery_params(d))
    if inserted and d.channel == "teams":
        await conn.execute(_INSERT_SLOT, d.recipient)
    return bool(inserted)


async def create_deliveries(conn: Conn, deliveries: Sequence[NewDelivery]) -> None:
    """`create_delivery` for several, each statement once (asyncpg pipelines executemany).

    A Teams recipient's rate-limit slot is made whether or not its delivery was new: a delivery
    that existed made the slot then, and slots are never removed, so the rows are the same.
    """
    if deliveries:
        await conn.executemany(_INSERT_DELIVERY, [_delivery_params(d) for d in deliveries])
    slots = sorted({d.recipient for d in deliveries if d.channel == "teams"})
    if slots:
        await conn.executemany(_INSERT_SLOT, [(r,) for r in slots])


# A claim is identified by its row and its attempt number: every later write of the claimant
# names both, so it changes nothing once the reaper has taken the claim away (and another
# worker may have claimed the row again).
_CLAIM = (
    "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, handed_over_at = NULL,"
    " claimed_until = $2 + make_interval(secs => $3)"
)


async def claim_email(pool: asyncpg.Pool, now: datetime, limit: int, lease_s: float) -> list[asyncpg.Record]:
    """Move due, not-held email deliveries to `sending` under a lease, committed before any send."""
    return await pool.fetch(
        _CLAIM + " WHERE id IN (SELECT id FROM deliveries WHERE status = 'pending' AND NOT held"
        "   AND channel = 'email' AND next_attempt_at <= $2 ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)"
        " RETURNING *",
        limit, now, lease_s,
    )  # fmt: skip


async def due_teams_and_digest(pool: asyncpg.Pool, now: datetime) -> tuple[bool, bool]:
    """Whether any Teams delivery, and any held one for a digest, is due: most rounds neither is,
    and then the worker opens no transaction for them (bench/)."""
    row = await pool.fetchrow(
        "SELECT EXISTS (SELECT 1 FROM deliveries WHERE channel = 'teams' AND status = 'pending'"
        "   AND NOT held AND next_attempt_at <= $1) AS teams,"
        " EXISTS (SELECT 1 FROM deliveries WHERE held AND status = 'pending' AND next_attempt_at <= $1)"
        "   AS digest",
        now,
    )
    assert row is not None
    return row["teams"], row["digest"]


async def claim_teams(
    pool: asyncpg.Pool, now: datetime, gap_s: float, lease_s: float
) -> list[asyncpg.Record]:
    """At most the oldest due delivery per webhook whose slot is free; the slot moves on in the same
    transaction, so one message per `gap_s` per webhook holds across restarts."""
    async with pool.acquire() as conn, conn.transaction():
        free = await conn.fetch(
            "SELECT recipient FROM webhook_slots w WHERE next_send_at <= $1 AND EXISTS (SELECT 1"
            " FROM deliveries d WHERE d.recipient = w.recipient AND d.channel = 'teams'"
            " AND d.status = 'pending' AND NOT d.held AND d.next_attempt_at <= $1)"
            " FOR UPDATE SKIP LOCKED",
            now,
        )
        claimed = []
        for slot in free:
            row = await conn.fetchrow(
                _CLAIM + " WHERE id = (SELECT min(id) FROM deliveries WHERE recipient = $1"
                " AND channel = 'teams' AND status = 'pending' AND NOT held AND next_attempt_at <= $2)"
                " RETURNING *",
                slot["recipient"], now, lease_s,
            )  # fmt: skip
            await set_slot(conn, slot["recipient"], now, gap_s)
            if row is not None:
                claimed.append(row)
        return claimed


async def set_slot(conn: Conn, recipient: str, now: datetime, gap_s: float) -> None:
    """The webhook's next message may go no sooner than `gap_s` after `now`."""
    await conn.execute(
        "UPDATE webhook_slots"
        " SET next_send_at = greatest(next_send_at, $2::timestamptz + make_interval(secs => $3))"
        " WHERE recipient = $1",
        recipient, now, gap_s,
    )  # fmt: skip


async def claim_digest(pool: asyncpg.Pool, now: datetime, lease_s: float) -> list[asyncpg.Record]:
    """All due held deliveries of one recipient x channel, claimed together for one digest."""
    async with pool.acquire() as conn, conn.transaction():
        first = await conn.fetchrow(
            "SELECT recipient, channel FROM deliveries WHERE held AND status = 'pending'"
            " AND next_attempt_at <= $1 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
            now,
        )
        if first is None:
            return []
        return await conn.fetch(
            _CLAIM + " WHERE id IN (SELECT id FROM deliveries WHERE held AND status = 'pending'"
            " AND recipient = $1 AND channel = $4 AND next_attempt_at <= $2 FOR UPDATE SKIP LOCKED)"
            " RETURNING *",
            first["recipient"], now, lease_s, first["channel"],
        )  # fmt: skip


Claim = tuple[int, int]
"""A delivery's id and the attempt number its claim gave it."""


async def hand_over(pool: asyncpg.Pool, claims: Sequence[Claim]) -> set[int]:
    """Record, committed, that these claimed deliveries' messages are about to leave; the ids of
    those whose claim still holds (the others must not be sent: the reaper took them back)."""
    rows = await pool.fetch(
        "UPDATE deliveries d SET handed_over_at = now()"
        " FROM unnest($1::bigint[], $2::int[]) AS c(id, attempts)"
        " WHERE d.id = c.id AND d.attempts = c.attempts AND d.status = 'sending' RETURNING d.id",
        [i for i, _ in claims], [a for _, a in claims],
    )  # fmt: skip
    return {r["id"] for r in rows}


# A final outcome of a claim that still holds and, only then, its outcome event: a claim reaped
# while its send was slow keeps what the reaper made of it and publishes nothing more.
FINISH_SQL = insert_if(
    "UPDATE deliveries SET status = $2, last_error = $3, finished_at = now(),"
    " claimed_until = NULL WHERE id = $1 AND attempts = $8 AND status = 'sending' RETURNING 1",
    4,
)


async def finish_all(conn: Conn, outcomes: Sequence[tuple[Claim, str, str | None, OutboxRow]]) -> None:
    """Final statuses of claimed deliveries with their outcome events, all in one round trip."""
    if not outcomes:
        return
    await conn.executemany(
        FINISH_SQL,
        [(i, status, error, *event, attempts) for (i, attempts), status, error, event in outcomes],
    )


async def retry_later(
    conn: Conn | asyncpg.Pool, claims: Sequence[Claim], not_before: datetime, error: str
) -> None:
    """Put claimed deliveries back to pending, to be tried again from `not_before`."""
    await conn.execute(
        "UPDATE deliveries d SET status = 'pending', last_error = $4, claimed_until = NULL,"
        " next_attempt_at = $3 FROM unnest($1::bigint[], $2::int[]) AS c(id, attempts)"
        " WHERE d.id = c.id AND d.attempts = c.attempts AND d.status = 'sending'",
        [i for i, _ in claims], [a for _, a in claims], not_before, error,
    )  # fmt: skip


async def expired_claims(conn: Conn, now: datetime) -> list[asyncpg.Record]:
    """Deliveries left in `sending` past their lease: the sender died or stalled. Locked."""
    return await conn.fetch(
        "SELECT * FROM deliveries WHERE status = 'sending' AND claimed_until < $1 FOR UPDATE SKIP LOCKED",
        now,
    )
