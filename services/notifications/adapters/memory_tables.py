"""The fake notifications database's tables: what the in-memory adapters read and write."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self

from services.notifications.domain.delivery import DeliveryState, Status
from services.notifications.domain.escalation import Escalation
from services.notifications.domain.routing import NewDelivery
from shared.memory import Tables

NEVER = datetime.min.replace(tzinfo=UTC)


class Shared:
    """What is not transactional in Postgres either: the id sequence, and the lock that takes the
    place of row locks. Every copy of the tables shares it."""

    def __init__(self) -> None:
        self.last_id = 0
        self.lock = asyncio.Lock()

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self


@dataclass(frozen=True)
class StoredDelivery:
    """A delivery row: what was created, and where the state machine has it."""

    new: NewDelivery
    state: DeliveryState


@dataclass
class NotificationTables(Tables):
    """The committed state of the fake notifications database."""

    deliveries: dict[int, StoredDelivery] = field(default_factory=dict)
    webhook_slots: dict[str, datetime] = field(default_factory=dict)
    escalations: dict[str, Escalation] = field(default_factory=dict)
    acknowledged: dict[str, datetime] = field(default_factory=dict)
    shared: Shared = field(default_factory=Shared)

    def status(self, delivery_id: int) -> Status:
        """A delivery's status (for tests)."""
        return self.deliveries[delivery_id].state.status
