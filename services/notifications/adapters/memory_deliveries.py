"""In-memory fakes of the delivery ledger and store: the delivery state machine's transitions
(domain/delivery.py) with the guards the SQL has. A claim takes only due pending rows, oldest
first; a write for a claim changes nothing once the claim no longer holds. Ledger calls commit at
once, taking their turn on the lock units of work hold (Postgres locks rows instead)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from services.notifications.adapters.memory_tables import NotificationTables, StoredDelivery
from services.notifications.domain import delivery as machine
from services.notifications.domain.delivery import Claim, DeliveryState, Finish, RetryLater, Status
from services.notifications.domain.outgoing import ClaimedDelivery
from services.notifications.domain.routing import TEAMS, NewDelivery
from shared.events import OutboxRow


def _key(d: NewDelivery) -> tuple[object, ...]:
    return d.source_event_id, d.recipient, d.channel


def _claimed(row: StoredDelivery) -> ClaimedDelivery:
    n, s = row.new, row.state
    return ClaimedDelivery(
        Claim(s.id, s.attempts), n.source_event_id, n.recipient, n.channel, n.kind, n.referral_id,
        n.family_key, n.subject, n.body_text, n.body_html, n.card, n.held, s.handed_over, n.invitation,
    )  # fmt: skip


class _Rows:
    """The delivery operations, over one set of tables (committed ones, or a unit of work's copy)."""

    def __init__(self, tables: NotificationTables) -> None:
        self.tables = tables

    def put(self, state: DeliveryState) -> None:
        row = self.tables.deliveries[state.id]
        self.tables.deliveries[state.id] = replace(row, state=state)

    def claim(self, ids: Sequence[int], now: datetime, lease: timedelta) -> list[ClaimedDelivery]:
        for i in ids:
            self.put(machine.claim(self.tables.deliveries[i].state, now, lease))
        return [_claimed(self.tables.deliveries[i]) for i in ids]

    def due(self, now: datetime, *, held: bool, channel: str | None = None) -> list[int]:
        return sorted(
            i for i, row in self.tables.deliveries.items()
            if machine.is_due(row.state, now) and row.new.held == held
            and (channel is None or row.new.channel == channel)
        )  # fmt: skip

    def holding(self, claim: Claim) -> DeliveryState | None:
        row = self.tables.deliveries.get(claim.delivery_id)
        return row.state if row is not None and machine.holds(row.state, claim) else None


class InMemoryDeliveryLedger:
    """The ledger over the committed tables: each call commits at once."""

    def __init__(self, tables: NotificationTables) -> None:
        self._tables = tables

    async def claim_email(self, now: datetime, limit: int, lease: timedelta) -> list[ClaimedDelivery]:
        """Due, not held email deliveries, oldest first, up to `limit`."""
        async with self._tables.shared.lock:
            rows = _Rows(self._tables)
            return rows.claim(rows.due(now, held=False, channel="email")[:limit], now, lease)

    async def due_teams_and_digest(self, now: datetime) -> tuple[bool, bool]:
        """Whether a Teams delivery, and a held one, is due."""
        async with self._tables.shared.lock:
            rows = _Rows(self._tables)
            return bool(rows.due(now, held=False, channel=TEAMS)), bool(rows.due(now, held=True))

    async def next_due(self) -> datetime | None:
        """The earliest next attempt (a Teams card: not before its slot) or lease end."""
        async with self._tables.shared.lock:
            times = [_due_at(row, self._tables.webhook_slots) for row in self._tables.deliveries.values()]
            return min((t for t in times if t is not None), default=None)

    async def hand_over(self, claims: Sequence[Claim]) -> set[int]:
        """The ids whose claim holds, handed over."""
        async with self._tables.shared.lock:
            rows, held = _Rows(self._tables), set()
            for claim in claims:
                state = rows.holding(claim)
                if state is not None:
                    rows.put(machine.hand_over(state, claim))
                    held.add(claim.delivery_id)
            return held

    async def counts(self) -> Mapping[tuple[str, str], int]:
        """Deliveries by channel and status."""
        found: dict[tuple[str, str], int] = {}
        for row in self._tables.deliveries.values():
            key = (row.new.channel, row.state.status.value)
            found[key] = found.get(key, 0) + 1
        return found


class InMemoryDeliveryStore:
    """Deliveries in a unit of work's copy of the tables."""

    def __init__(self, tables: NotificationTables) -> None:
        self._tables = tables
        self._rows = _Rows(tables)

    async def add(self, deliveries: Sequence[NewDelivery]) -> None:
        """New pending rows; one event x recipient x channel keeps its first row."""
        keys = {
            (r.new.source_event_id, r.new.recipient, r.new.channel) for r in self._tables.deliveries.values()
        }
        for d in deliveries:
            if (d.source_event_id, d.recipient, d.channel) in keys:
                continue
            keys.add((d.source_event_id, d.recipient, d.channel))
            self._tables.shared.last_id += 1
            i = self._tables.shared.last_id
            self._tables.deliveries[i] = StoredDelivery(d, DeliveryState(i, d.not_before))

    async def claim_teams(self, now: datetime, gap: timedelta, lease: timedelta) -> list[ClaimedDelivery]:
        """The oldest due delivery of each webhook whose slot is free; the slot moves on."""
        due = self._rows.due(now, held=False, channel=TEAMS)
        found = []
        for recipient, free_at in sorted(self._tables.webhook_slots.items()):
            mine = [i for i in due if self._tables.deliveries[i].new.recipient == recipient]
            if free_at <= now and mine:
                found += self._rows.claim(mine[:1], now, lease)
                self._tables.webhook_slots[recipient] = max(free_at, now + gap)
        return found

    async def claim_digest(self, now: datetime, lease: timedelta) -> list[ClaimedDelivery]:
        """Every due held delivery of the recipient x channel with the oldest one."""
        due = self._rows.due(now, held=True)
        if not due:
            return []
        rows = self._tables.deliveries
        first = rows[due[0]].new
        pair = (first.recipient, first.channel)
        same = [i for i in due if (rows[i].new.recipient, rows[i].new.channel) == pair]
        return self._rows.claim(same, now, lease)

    async def finish(self, outcomes: Sequence[tuple[Finish, OutboxRow]]) -> None:
        """Final statuses, and their events, for the claims that still hold."""
        for finish, event in outcomes:
            state = self._rows.holding(finish.claim)
            if state is not None:
                self._rows.put(machine.apply(state, finish))
                self._tables.outbox.append(event)

    async def retry_later(self, retries: Sequence[RetryLater]) -> None:
        """Back to pending, for the claims that still hold."""
        for retry in retries:
            state = self._rows.holding(retry.claim)
            if state is not None:
                self._rows.put(machine.apply(state, retry))

    async def abandoned(self, now: datetime) -> list[ClaimedDelivery]:
        """Claims past their lease."""
        rows = self._tables.deliveries
        return [_claimed(rows[i]) for i in sorted(rows) if machine.is_abandoned(rows[i].state, now)]


def _due_at(row: StoredDelivery, slots: Mapping[str, datetime]) -> datetime | None:
    state = row.state
    if state.status is Status.SENDING:
        return state.lease_until
    if state.status is not Status.PENDING:
        return None
    if row.new.channel == TEAMS and not row.new.held and row.new.recipient in slots:
        return max(state.next_attempt_at, slots[row.new.recipient])
    return state.next_attempt_at
