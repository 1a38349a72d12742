"""In-memory fakes of the notification stores, for use-case tests and offline runs (no Postgres).

Units of work and ledger calls take turns on one lock, so a unit of work never overwrites what a
ledger call committed meanwhile (Postgres locks rows instead). The delivery fakes are in
`memory_deliveries.py`, the tables in `memory_tables.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Self

from services.notifications.adapters.memory_deliveries import InMemoryDeliveryStore
from services.notifications.adapters.memory_tables import NEVER, NotificationTables
from services.notifications.domain import escalation as escalating
from services.notifications.domain.escalation import Escalation
from services.notifications.ports import SlotHold
from shared.memory import InMemoryUnitOfWork


class InMemoryWebhookSlots:
    """Webhook slots in a unit of work's copy of the tables."""

    def __init__(self, tables: NotificationTables) -> None:
        self._slots = tables.webhook_slots

    async def open(self, recipients: Sequence[str]) -> None:
        """A free slot for each webhook that has none."""
        for recipient in recipients:
            self._slots.setdefault(recipient, NEVER)

    async def hold(self, holds: Sequence[SlotHold]) -> None:
        """Each webhook's slot closed until at least `until`."""
        for h in holds:
            if h.recipient in self._slots:
                self._slots[h.recipient] = max(self._slots[h.recipient], h.until)


class InMemoryEscalations:
    """Escalations in a unit of work's copy of the tables."""

    def __init__(self, tables: NotificationTables) -> None:
        self._tables = tables

    async def start(self, escalation: Escalation) -> None:
        """Watch the referral unless it is watched or was acknowledged."""
        if escalation.referral_id not in self._tables.acknowledged:
            self._tables.escalations.setdefault(escalation.referral_id, escalation)

    async def stop(self, referral_id: str, at: datetime) -> None:
        """Remember the acknowledgement; stop watching."""
        self._tables.acknowledged.setdefault(referral_id, at)
        self._tables.escalations.pop(referral_id, None)

    async def due(self, now: datetime, limit: int) -> list[Escalation]:
        """Due escalations, earliest first."""
        due = [e for e in self._tables.escalations.values() if escalating.is_due(e, now)]
        return sorted(due, key=lambda e: e.due_at)[:limit]

    async def save(self, escalations: Sequence[Escalation]) -> None:
        """New levels and due times of watched referrals."""
        for e in escalations:
            if e.referral_id in self._tables.escalations:
                self._tables.escalations[e.referral_id] = e


class InMemoryNotificationsUnitOfWork(InMemoryUnitOfWork[NotificationTables]):
    """The notification stores over a copy of the tables; one unit of work (or ledger call) at a
    time."""

    @property
    def deliveries(self) -> InMemoryDeliveryStore:
        """Deliveries, in this unit of work."""
        return InMemoryDeliveryStore(self.tables)

    @property
    def webhook_slots(self) -> InMemoryWebhookSlots:
        """Webhook slots, in this unit of work."""
        return InMemoryWebhookSlots(self.tables)

    @property
    def escalations(self) -> InMemoryEscalations:
        """Escalations, in this unit of work."""
        return InMemoryEscalations(self.tables)

    async def __aenter__(self) -> Self:
        await self.committed.shared.lock.acquire()
        try:
            return await super().__aenter__()
        except BaseException:
            self.committed.shared.lock.release()
            raise

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await super().__aexit__(exc_type, exc, tb)
        finally:
            self.committed.shared.lock.release()
