"""Scheduled events: deadline reminders and breaches, and rotation handovers, each exactly once.

Each alert gets a row with a unique key in the same transaction as its outbox row, and a
deterministic event id (uuid5), so restarts and several concurrent instances never emit twice.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from services.assignment import postgres
from services.assignment.domain.deadlines import Alert, alerts_due
from services.assignment.domain.rotation import handovers
from services.assignment.handlers import PRODUCER, AssignmentContext
from shared.clock import Clock
from shared.db import Conn
from shared.events import (
    TOPIC_DEADLINES,
    TOPIC_ROTATION,
    DeadlineEvent,
    RotationHandover,
    new_envelope,
    outbox_row,
)
from shared.outbox import PostgresOutbox

log = logging.getLogger(__name__)
NAMESPACE = uuid.UUID("5b0f7a52-8d7e-4f0e-9a57-2c4d1e6b9f10")
HANDOVER_LOOKBACK = timedelta(days=1)

# Every unmet deadline due within the longest reminder lead, with the alerts already emitted
# for it: (referral, deadline, due time, team, caseworker, done alert keys). A branch per clock,
# each read from a partial index of its unmet rows (migration 004), so closed history is not
# scanned; whether an alert is due is decided in Python, and only then is a transaction opened.
_OPEN_CLOCK = (
    "SELECT referral_id, family_key, team, caseworker, '{name}'::text AS name, {due} AS due_at"
    " FROM assignments WHERE {unmet} AND {due} IS NOT NULL AND {due} <= $1"
)
OPEN_DEADLINES_SQL = (
    "SELECT o.*, ARRAY(SELECT alert FROM deadline_alerts a WHERE a.referral_id = o.referral_id"
    " AND a.deadline = o.name AND a.due_at = o.due_at) AS done FROM ("
    + " UNION ALL ".join(
        _OPEN_CLOCK.format(name=name, due=due, unmet=unmet)
        for name, due, unmet in (
            (
                "protection_assessment",
                "protection_due",
                "protection_assessed_at IS NULL AND closed_at IS NULL",
            ),
            ("preliminary_assessment", "preliminary_due", "decided_at IS NULL"),
            ("investigation", "investigation_due", "closed_at IS NULL"),
            ("reporter_feedback", "feedback_due", "feedback_sent_at IS NULL"),
        )
    )
    + ") AS o"
)


def event_id(*parts: object) -> uuid.UUID:
    """A deterministic event id, so an alert emitted twice would collide in the outbox too."""
    return uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts))


class Scheduler:
    """Scans for due alerts and handovers every `interval_s`, with an injected clock."""

    def __init__(self, pool: asyncpg.Pool, ctx: AssignmentContext, clock: Clock) -> None:
        self._pool, self._ctx, self._clock = pool, ctx, clock
        self._max_lead = max(
            (max(v, default=timedelta(0)) for v in ctx.deadlines.reminders.values()), default=timedelta(0)
        )

    async def run(self, interval_s: float) -> None:
        """Scan until cancelled."""
        while True:
            await self.scan_once()
            await asyncio.sleep(interval_s)

    async def scan_once(self) -> int:
        """Emit whatever is due now; return how many events were added to the outbox."""
        now = self._clock.now()
        emitted = await self.emit_handovers(now)
        # One query for every open clock; a transaction only for a clock with an alert due (there
        # used to be one per open clock and scan: thousands of round trips every 30 s).
        for row in await self._pool.fetch(OPEN_DEADLINES_SQL, now + self._max_lead):
            leads = self._ctx.deadlines.reminders.get(row["name"], ())
            due = alerts_due(row["due_at"], now, leads, set(row["done"]))
            if due:
                emitted += await self._emit_deadline(row, due)
        return emitted

    async def _emit_deadline(self, row: asyncpg.Record, alerts: list[Alert]) -> int:
        """Each alert with its outbox row; one another instance emitted meanwhile is skipped."""
        async with self._pool.acquire() as conn, conn.transaction():
            return sum([await _emit_alert(conn, row, alert) for alert in alerts])

    async def emit_handovers(self, now: datetime) -> int:
        """One rotation.handover per change of team in the last day, however many instances run."""
        count = 0
        async with self._pool.acquire() as conn, conn.transaction():
            overrides = await postgres.overrides_between(
                conn, now - timedelta(days=400), now + timedelta(days=400)
            )
            window = (now - HANDOVER_LOOKBACK, now)
            for from_team, to_team, at in handovers(self._ctx.plan, overrides, *window, self._ctx.tz):
                ahead = handovers(self._ctx.plan, overrides, at, at + timedelta(days=366), self._ctx.tz)
                following = ahead[0][2] if ahead else None
                count += await _emit_handover(conn, (from_team, to_team), at, following)
        return count


async def _emit_alert(conn: Conn, row: asyncpg.Record, alert: Alert) -> int:
    inserted = await conn.fetchval(
        "INSERT INTO deadline_alerts (referral_id, deadline, alert, due_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        row["referral_id"],
        row["name"],
        alert.key,
        row["due_at"],
    )
    if inserted is None:
        return 0  # another instance emitted it a moment ago
    data = DeadlineEvent(
        referral_id=row["referral_id"],
        family_key=row["family_key"],
        deadline=row["name"],
        due_at=row["due_at"],
        team=row["team"],
        caseworker=row["caseworker"],
        lead_seconds=None if alert.lead is None else int(alert.lead.total_seconds()),
    )
    envelope = new_envelope(
        f"deadline.{alert.kind}", data, producer=PRODUCER, correlation_id=row["referral_id"]
    ).model_copy(
        update={"event_id": event_id(row["referral_id"], row["name"], row["due_at"].isoformat(), alert.key)}
    )
    await PostgresOutbox(conn).add([outbox_row(TOPIC_DEADLINES, envelope)])
    return 1


async def _emit_handover(conn: Conn, teams: tuple[str, str], at: datetime, following: datetime | None) -> int:
    from_team, to_team = teams
    inserted = await conn.fetchval(
        "INSERT INTO rotation_handovers (at, from_team, to_team) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        at,
        from_team,
        to_team,
    )
    if inserted is None:
        return 0
    data = RotationHandover(
        from_team=from_team,
        to_team=to_team,
        at=at.astimezone(UTC),
        next_handover_at=following and following.astimezone(UTC),
    )
    envelope = new_envelope("rotation.handover", data, producer=PRODUCER, correlation_id="rotation")
    envelope = envelope.model_copy(update={"event_id": event_id("handover", at.astimezone(UTC).isoformat())})
    await PostgresOutbox(conn).add([outbox_row(TOPIC_ROTATION, envelope)])
    return 1
