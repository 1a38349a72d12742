"""What the notification use cases need from the world: stores, the sending ledger, senders.

Two kinds of store. `DeliveryLedger` steps commit on their own, one statement each, because the
next step must not happen before they are durable: a claim before any send, a hand-over before
DATA or the POST. Everything else happens inside a `NotificationsUnitOfWork`, committed together
(with its outbox rows, and with the inbox row of a consumed batch).

Every write made for a claim names the claim and changes nothing once it no longer holds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from services.notifications.domain.delivery import Claim, Finish, RetryLater
from services.notifications.domain.escalation import Escalation
from services.notifications.domain.outgoing import ClaimedDelivery, Outgoing
from services.notifications.domain.routing import NewDelivery
from shared.events import OutboxRow
from shared.ports import ConsumingUnitOfWork

HandOver = Callable[[], Awaitable[None]]
"""Called by a sender just before any part of the message can reach the other side (before SMTP
DATA, before the webhook POST). It returns once that moment is recorded; if it raises, the
sender sends nothing and lets the exception through. A sender that has not called it has
certainly sent nothing."""


async def nothing_to_record() -> None:
    """A hand-over with nothing to record (a sender used on its own)."""
    return None


class Sender(Protocol):
    """Sends one message to one address (an email address or a webhook URL).

    Raises `Retryable`, `Permanent` or `Ambiguous` (domain/delivery.py) when it was not accepted.
    """

    async def send(
        self, address: str, message: Outgoing, hand_over: HandOver = nothing_to_record
    ) -> None: ...


@dataclass(frozen=True)
class SlotHold:
    """A webhook's next message may go no sooner than `until` (after a 429's Retry-After)."""

    recipient: str
    until: datetime


class DeliveryLedger(Protocol):
    """The steps of sending that are durable as soon as they return (each its own transaction)."""

    async def claim_email(self, now: datetime, limit: int, lease: timedelta) -> list[ClaimedDelivery]:
        """Claim up to `limit` due, not held email deliveries, oldest first."""
        ...

    async def due_teams_and_digest(self, now: datetime) -> tuple[bool, bool]:
        """Whether any Teams delivery, and any held one for a digest, is due."""
        ...

    async def next_due(self) -> datetime | None:
        """The earliest time a round could find work: a pending delivery's next attempt (for a
        Teams card also its webhook's free slot) or a claim's lease end; None when there is none."""
        ...

    async def hand_over(self, claims: Sequence[Claim]) -> set[int]:
        """Record that these claims' messages are about to leave; the delivery ids whose claim
        still holds (the others must not be sent)."""
        ...

    async def counts(self) -> Mapping[tuple[str, str], int]:
        """How many deliveries there are by channel and status."""
        ...


class DeliveryStore(Protocol):
    """Deliveries, inside a unit of work."""

    async def add(self, deliveries: Sequence[NewDelivery]) -> None:
        """Create pending deliveries; one that exists already (event x recipient x channel) is kept."""
        ...

    async def claim_teams(self, now: datetime, gap: timedelta, lease: timedelta) -> list[ClaimedDelivery]:
        """The oldest due Teams delivery of each webhook whose slot is free; each slot moves `gap` on."""
        ...

    async def claim_digest(self, now: datetime, lease: timedelta) -> list[ClaimedDelivery]:
        """Every due held delivery of one recipient x channel, for one digest."""
        ...

    async def finish(self, outcomes: Sequence[tuple[Finish, OutboxRow]]) -> None:
        """Final statuses, each with its outcome event, for the claims that still hold."""
        ...

    async def retry_later(self, retries: Sequence[RetryLater]) -> None:
        """Back to pending until each one's `not_before`, for the claims that still hold."""
        ...

    async def abandoned(self, now: datetime) -> list[ClaimedDelivery]:
        """Claims past their lease (with whether they had handed over), locked for this unit of work."""
        ...


class WebhookSlots(Protocol):
    """The pace of each Teams webhook (one message per slot), kept across restarts."""

    async def open(self, recipients: Sequence[str]) -> None:
        """Make sure these webhooks have a slot (free at once when new)."""
        ...

    async def hold(self, holds: Sequence[SlotHold]) -> None:
        """Keep each webhook's slot closed until at least `until`."""
        ...


class EscalationStore(Protocol):
    """Acute referrals waiting for acknowledgement."""

    async def start(self, escalation: Escalation) -> None:
        """Watch a referral, unless it is watched already or was acknowledged."""
        ...

    async def stop(self, referral_id: str, at: datetime) -> None:
        """Someone acted: remember it, and watch the referral no more."""
        ...

    async def due(self, now: datetime, limit: int) -> list[Escalation]:
        """Escalations with a level due, earliest first, locked for this unit of work."""
        ...

    async def save(self, escalations: Sequence[Escalation]) -> None:
        """Store escalations' new levels and due times."""
        ...


class NotificationsUnitOfWork(ConsumingUnitOfWork, Protocol):
    """One transaction over the notification stores, the inbox and the outbox."""

    @property
    def deliveries(self) -> DeliveryStore: ...

    @property
    def webhook_slots(self) -> WebhookSlots: ...

    @property
    def escalations(self) -> EscalationStore: ...
