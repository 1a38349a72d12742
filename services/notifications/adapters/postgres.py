"""The notifications unit of work in Postgres: deliveries, webhook slots and escalations on one
connection, in one transaction with the inbox and the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.notifications.adapters.postgres_deliveries import HOLD_SLOT, PostgresDeliveryStore
from services.notifications.domain.escalation import LAST_LEVEL, Escalation
from services.notifications.ports import SlotHold
from shared.db import Conn
from shared.postgres import PostgresUnitOfWork

_OPEN_SLOT = "INSERT INTO webhook_slots (recipient) VALUES ($1) ON CONFLICT DO NOTHING"
_START = (
    "INSERT INTO escalations (referral_id, family_key, team, source_event_id, due_at, since, level)"
    " SELECT $1, $2, $3, $4, $5, $6, $7"
    " WHERE NOT EXISTS (SELECT 1 FROM acknowledged WHERE referral_id = $1)"
    " ON CONFLICT (referral_id) DO NOTHING"
)
# The acknowledgement and the end of the watch in one round trip (different tables: the delete
# never needs to see the insert).
_STOP = (
    "WITH ack AS (INSERT INTO acknowledged (referral_id, at) VALUES ($1, $2) ON CONFLICT DO NOTHING)"
    " DELETE FROM escalations WHERE referral_id = $1"
)
_DUE = (
    "SELECT * FROM escalations WHERE level < $2 AND due_at <= $1 ORDER BY due_at LIMIT $3"
    " FOR UPDATE SKIP LOCKED"
)
_SAVE = (
    "UPDATE escalations e SET level = c.level, due_at = c.due_at"
    " FROM unnest($1::text[], $2::int[], $3::timestamptz[]) AS c(referral_id, level, due_at)"
    " WHERE e.referral_id = c.referral_id"
)


class PostgresWebhookSlots:
    """One row per Teams webhook: the earliest time its next message may go."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def open(self, recipients: Sequence[str]) -> None:
        """A slot for each webhook that has none, in one statement. Slots are never removed."""
        if recipients:
            await self._conn.executemany(_OPEN_SLOT, [(r,) for r in recipients])

    async def hold(self, holds: Sequence[SlotHold]) -> None:
        """Each webhook's next message no sooner than `until` (never sooner than it was)."""
        if holds:
            await self._conn.executemany(HOLD_SLOT, [(h.recipient, h.until) for h in holds])


class PostgresEscalations:
    """Escalations and acknowledgements (an acknowledgement may arrive before the assignment)."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def start(self, escalation: Escalation) -> None:
        """Watch an acute referral unless it is watched already or was acknowledged."""
        e = escalation
        await self._conn.execute(
            _START, e.referral_id, e.family_key, e.team, e.source_event_id, e.due_at, e.since, e.level
        )

    async def stop(self, referral_id: str, at: datetime) -> None:
        """Remember the acknowledgement; no more escalation for this referral."""
        await self._conn.execute(_STOP, referral_id, at)

    async def due(self, now: datetime, limit: int) -> list[Escalation]:
        """Due escalations, earliest first, locked for this transaction."""
        rows = await self._conn.fetch(_DUE, now, LAST_LEVEL, limit)
        return [_escalation(r) for r in rows]

    async def save(self, escalations: Sequence[Escalation]) -> None:
        """New levels and due times, in one statement."""
        if escalations:
            await self._conn.execute(
                _SAVE, [e.referral_id for e in escalations], [e.level for e in escalations],
                [e.due_at for e in escalations],
            )  # fmt: skip


def _escalation(row: asyncpg.Record) -> Escalation:
    return Escalation(
        row["referral_id"], row["family_key"], row["team"], row["source_event_id"], row["due_at"],
        row["since"], row["level"],
    )  # fmt: skip


class PostgresNotificationsUnitOfWork(PostgresUnitOfWork):
    """One transaction: deliveries, webhook slots, escalations, inbox and outbox."""

    @property
    def deliveries(self) -> PostgresDeliveryStore:
        """Deliveries, in this transaction."""
        return PostgresDeliveryStore(self.conn)

    @property
    def webhook_slots(self) -> PostgresWebhookSlots:
        """Webhook slots, in this transaction."""
        return PostgresWebhookSlots(self.conn)

    @property
    def escalations(self) -> PostgresEscalations:
        """Escalations, in this transaction."""
        return PostgresEscalations(self.conn)
