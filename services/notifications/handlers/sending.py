"""Sending due deliveries and recording what became of them (domain/delivery.py decides).

A worker round claims a batch of due email (committed before any send), the Teams messages whose
webhook slot is free and one digest; sends them concurrently; and records every outcome of the
batch in one unit of work. Just before a message can reach the other side, its sender hands it
over (`HandOvers`, committed first): a message never handed over certainly was not sent, and only
a handed-over message whose fate is not known ends `unknown`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from services.notifications.domain.delivery import (
    Ambiguous,
    Decision,
    Finish,
    Permanent,
    Retryable,
    RetryBudget,
    RetryLater,
    SendResult,
    Sent,
    Status,
    after_lease,
    after_send,
)
from services.notifications.domain.outgoing import ClaimedDelivery, address, message_for
from services.notifications.domain.routing import TEAMS
from services.notifications.domain.unit import Unit
from services.notifications.handlers.hand_overs import HandOver, HandOvers
from services.notifications.ports import DeliveryLedger, NotificationsUnitOfWork, Sender, SlotHold
from shared.clock import Clock
from shared.db import TRANSIENT_DB_ERRORS
from shared.events import TOPIC_NOTIFICATIONS, NotificationOutcome, OutboxRow, new_envelope, outbox_row

log = logging.getLogger(__name__)
PRODUCER = "notifications"
# How long a known outcome waits for the database to come back before it is left to the reaper.
RECORD_PATIENCE_S = 60.0

Message = Sequence[ClaimedDelivery]
"""One message: one delivery, or the held deliveries of one digest."""


@dataclass(frozen=True)
class SendingPolicy:
    """How much a worker round takes on, and how patiently a delivery is tried."""

    batch_size: int = 20
    lease: timedelta = timedelta(seconds=60)  # longer than any send can take
    teams_gap: timedelta = timedelta(seconds=1)  # per webhook (DESIGN.md §3a)
    budget: RetryBudget = field(default_factory=RetryBudget)


class Courier:
    """Claims due deliveries, sends them, records their outcomes, and reaps abandoned claims."""

    def __init__(
        self,
        ledger: DeliveryLedger,
        unit_of_work: Callable[[], NotificationsUnitOfWork],
        senders: Mapping[str, Sender],
        unit: Unit,
        clock: Clock,
        policy: SendingPolicy = SendingPolicy(),
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._ledger = ledger
        self._unit_of_work = unit_of_work
        self._senders = senders
        self._unit = unit
        self._clock = clock
        self._policy = policy
        self._jitter = jitter

    async def send_due(self) -> int:
        """One round: a batch of email, one message per free webhook, one digest; how many claimed."""
        now, p = self._clock.now(), self._policy
        emails = await self._ledger.claim_email(now, p.batch_size, p.lease)
        teams_due, digest_due = await self._ledger.due_teams_and_digest(now)
        teams = await self._claim(
            lambda uow: uow.deliveries.claim_teams(now, p.teams_gap, p.lease), teams_due
        )
        await self.send([[d] for d in [*emails, *teams]])
        digest = await self._claim(lambda uow: uow.deliveries.claim_digest(now, p.lease), digest_due)
        if digest:
            await self.send([digest])
        return len(emails) + len(teams) + len(digest)

    async def seconds_until_due(self) -> float | None:
        """How long until a round could find work (negative: already); None: nothing pending."""
        due = await self._ledger.next_due()
        return None if due is None else (due - self._clock.now()).total_seconds()

    async def _claim(
        self, claim: Callable[[NotificationsUnitOfWork], Awaitable[list[ClaimedDelivery]]], due: bool
    ) -> list[ClaimedDelivery]:
        if not due:
            return []
        async with self._unit_of_work() as uow:
            claimed = await claim(uow)
            await uow.commit()
        return claimed

    async def send(self, messages: Sequence[Message]) -> list[Status]:
        """Send claimed messages concurrently; record every outcome in one unit of work.

        Returns each message's status (`pending` when it is to be tried again). A crash between
        the sends and the commit leaves the claims `sending`, for the reaper.
        """
        hand_overs = HandOvers(self._ledger)
        results = await asyncio.gather(
            *(self._attempt(m, hand_overs.of(m)) for m in messages), return_exceptions=True
        )
        decided = [
            pair for m, r in zip(messages, results, strict=True) if not isinstance(r, BaseException)
            for pair in zip(m, r, strict=True)
        ]  # fmt: skip
        if decided:
            await through_outage(lambda: self._record(decided))
        for result in results:
            if isinstance(result, BaseException):
                raise result  # a bug, not an outcome: its claims stay `sending` until the reaper
        return [_status(r) for r in results if not isinstance(r, BaseException)]

    async def _attempt(self, message: Message, handed: HandOver) -> list[Decision]:
        """Send one message and decide, for each of its claims, what the result means."""
        result: SendResult = Sent()
        try:
            first = message[0]
            outgoing = message_for(message, self._unit)
            await self._senders[first.channel].send(address(first, self._unit), outgoing, hand_over=handed)
        except (Retryable, Permanent, Ambiguous) as exc:
            result = exc
        now, jitter, budget = self._clock.now(), self._jitter(), self._policy.budget
        return [after_send(d.claim, handed.done, result, now, budget, jitter) for d in message]

    async def _record(self, decided: Sequence[tuple[ClaimedDelivery, Decision]]) -> None:
        finals = [(f, outcome_row(d, f)) for d, f in decided if isinstance(f, Finish)]
        retries = [r for _, r in decided if isinstance(r, RetryLater)]
        # A webhook that asked for a pause (429, Retry-After) gets none of its messages meanwhile.
        holds = [SlotHold(d.recipient, r.not_before) for d, r in decided
                 if isinstance(r, RetryLater) and d.channel == TEAMS]  # fmt: skip
        async with self._unit_of_work() as uow:
            await uow.deliveries.finish(finals)
            await uow.deliveries.retry_later(retries)
            await uow.webhook_slots.hold(holds)
            await uow.commit()
        _log_unsent(decided)

    async def reap_abandoned(self) -> int:
        """Claims past their lease: their sender died or stalled. The domain says what each becomes
        (`unknown` if it had handed over; else pending again, or `failed` on its last attempt)."""
        async with self._unit_of_work() as uow:
            now = self._clock.now()
            abandoned = await uow.deliveries.abandoned(now)
            decided = [(d, after_lease(d.claim, d.handed_over, now, self._policy.budget)) for d in abandoned]
            await uow.deliveries.finish([(f, outcome_row(d, f)) for d, f in decided if isinstance(f, Finish)])
            await uow.deliveries.retry_later([r for _, r in decided if isinstance(r, RetryLater)])
            await uow.commit()
        _log_unsent(decided)
        again = [d.claim.delivery_id for d, r in decided if isinstance(r, RetryLater)]
        if again:
            log.warning("claims abandoned before sending are pending again", extra={"delivery_ids": again})
        return len(abandoned)


def _status(decisions: Sequence[Decision]) -> Status:
    first = decisions[0]
    return first.status if isinstance(first, Finish) else Status.PENDING


def _log_unsent(decided: Sequence[tuple[ClaimedDelivery, Decision]]) -> None:
    for d, decision in decided:
        if isinstance(decision, Finish) and decision.status is not Status.SENT:
            log.warning(
                "delivery not sent",
                extra={"delivery_id": d.claim.delivery_id, "status": decision.status.value,
                       "error": decision.error},
            )  # fmt: skip


async def through_outage(write: Callable[[], Awaitable[None]], patience_s: float = RECORD_PATIENCE_S) -> None:
    """Record an outcome the worker already knows, waiting out a short database outage.

    Giving up at once would leave the claims `sending` for the reaper to call `unknown`: a message
    that did leave would raise a false alarm, and one refused before DATA would never be retried
    (the chaos run saw Postgres restarts turn deliveries `unknown`). Every write only touches
    claims that still hold, so a write that comes after a reap changes nothing.
    """
    delay, deadline = 0.2, time.monotonic() + patience_s
    while True:
        try:
            await write()
            return
        except TRANSIENT_DB_ERRORS as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning(
                "recording delivery outcomes waits for the database", extra={"error": type(exc).__name__}
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


def outcome_row(delivery: ClaimedDelivery, finish: Finish) -> OutboxRow:
    """`notification.<status>` for one delivery, under an id stable for its row and status."""
    d = delivery
    data = NotificationOutcome(
        family_key=d.family_key, source_event_id=d.source_event_id, channel=d.channel,
        recipient=d.recipient, attempts=d.claim.attempt, kind=d.kind,
    )  # fmt: skip
    envelope: Any = new_envelope(
        f"notification.{finish.status.value}", data, producer=PRODUCER,
        correlation_id=d.referral_id or str(d.source_event_id), causation_id=str(d.source_event_id),
    )  # fmt: skip
    event_id = uuid.uuid5(d.source_event_id, f"{d.claim.delivery_id}:{finish.status.value}")
    return outbox_row(TOPIC_NOTIFICATIONS, envelope.model_copy(update={"event_id": event_id}))
