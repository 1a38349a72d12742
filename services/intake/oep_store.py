"""Postgres state of the Open ePlatform poller: cursors and one state machine row per instance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.db import Conn

AWAITING_CALLBACK = ("stored", "delivered", "rejected")


@dataclass(frozen=True)
class InstanceState:
    """Where one FlowInstance is in its life here."""

    flow_instance_id: int
    state: str
    referral_ids: tuple[str, ...]


async def state_of(conn: Conn, flow_instance_id: int) -> str | None:
    """The instance's state, or None if it was never seen."""
    state: str | None = await conn.fetchval(
        "SELECT state FROM oep_instances WHERE flow_instance_id = $1", flow_instance_id
    )
    return state


async def record_stored(
    conn: Conn,
    flow_instance_id: int,
    family_id: str,
    first_submitted: datetime,
    submission_id: str,
    referral_ids: Sequence[str],
) -> None:
    """Mark the instance stored, in the transaction that stored its submission."""
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


async def record_failure(
    conn: Conn,
    flow_instance_id: int,
    family_id: str,
    error: str,
    max_attempts: int,
    first_submitted: datetime | None = None,
) -> tuple[str, int]:
    """Count a failed attempt; after `max_attempts` the instance is rejected. Return (state, attempts)."""
    row = await conn.fetchrow(
        "INSERT INTO oep_instances"
        " (flow_instance_id, family_id, state, attempts, last_error, first_submitted)"
        " VALUES ($1, $2, CASE WHEN $4 <= 1 THEN 'rejected' ELSE 'received' END, 1, $3, $5)"
        " ON CONFLICT (flow_instance_id) DO UPDATE SET attempts = oep_instances.attempts + 1,"
        " last_error = $3, updated_at = now(), first_submitted = COALESCE($5, oep_instances.first_submitted),"
        " state = CASE WHEN oep_instances.attempts + 1 >= $4 THEN 'rejected' ELSE 'received' END"
        " WHERE oep_instances.state = 'received' RETURNING state, attempts",
        flow_instance_id,
        family_id,
        error,
        max_attempts,
        first_submitted,
    )
    assert row is not None
    return row["state"], row["attempts"]


async def advance(conn: Conn, flow_instance_id: int, from_state: str, to_state: str) -> None:
    """Move an instance on after a callback succeeded."""
    await conn.execute(
        "UPDATE oep_instances SET state = $3, updated_at = now() WHERE flow_instance_id = $1 AND state = $2",
        flow_instance_id,
        from_state,
        to_state,
    )


async def awaiting_callback(conn: Conn, flow_instance_id: int | None = None) -> list[InstanceState]:
    """Instances whose callbacks are not all made yet (all of them, or just the one given)."""
    rows = await conn.fetch(
        "SELECT flow_instance_id, state, referral_ids FROM oep_instances"
        " WHERE state = ANY($1::text[]) AND ($2::bigint IS NULL OR flow_instance_id = $2)"
        " ORDER BY flow_instance_id",
        list(AWAITING_CALLBACK),
        flow_instance_id,
    )
    return [InstanceState(r["flow_instance_id"], r["state"], tuple(r["referral_ids"])) for r in rows]


async def cursor(conn: Conn, family_id: str) -> datetime | None:
    """The instant the family was last polled up to."""
    seen: datetime | None = await conn.fetchval(
        "SELECT last_seen FROM oep_cursors WHERE family_id = $1", family_id
    )
    return seen


async def move_cursor(conn: Conn, family_id: str) -> None:
    """Move the cursor to the newest submission seen, but never past an instance still retried."""
    await conn.execute(
        "WITH f AS (SELECT * FROM oep_instances WHERE family_id = $1),"
        " target AS (SELECT CASE"
        "   WHEN EXISTS (SELECT 1 FROM f WHERE state = 'received' AND first_submitted IS NULL) THEN NULL"
        "   WHEN EXISTS (SELECT 1 FROM f WHERE state = 'received')"
        "     THEN (SELECT min(first_submitted) FROM f WHERE state = 'received')"
        "   ELSE (SELECT max(first_submitted) FROM f) END AS at)"
        " INSERT INTO oep_cursors (family_id, last_seen) SELECT $1, at FROM target WHERE at IS NOT NULL"
        " ON CONFLICT (family_id) DO UPDATE SET last_seen = EXCLUDED.last_seen",
        family_id,
    )
