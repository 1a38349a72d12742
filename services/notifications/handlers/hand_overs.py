"""Hand-overs, group-committed: the moment a message is about to leave is durable before it leaves.

Sends of one batch that reach the point together share one statement (a group commit), so a
batch of twenty costs a few commits, not twenty. A send waits for its own commit before its
message may leave. If the database cannot be reached, or the reaper took a claim back meanwhile
(a stalled worker), `NotHandedOver` stops the send: nothing was sent, and it is tried again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from services.notifications.domain.delivery import Claim, NotHandedOver
from services.notifications.domain.outgoing import ClaimedDelivery
from services.notifications.ports import DeliveryLedger
from shared.db import TRANSIENT_DB_ERRORS


class HandOver:
    """One message's hand-over (a digest's covers all its claims); remembers that it was made."""

    def __init__(self, owner: HandOvers, claims: list[Claim]) -> None:
        self._owner = owner
        self._claims = claims
        self.done = False

    async def __call__(self) -> None:
        """Return once the hand-over is committed; raise `NotHandedOver` if it is not.

        Once made, calling it again records nothing more: one claim, one message."""
        if not self.done:
            await self._owner.record(self._claims)
            self.done = True


class HandOvers:
    """Commits the hand-overs of a batch of concurrent sends, together where they coincide."""

    def __init__(self, ledger: DeliveryLedger) -> None:
        self._ledger = ledger
        self._queue: list[tuple[list[Claim], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    def of(self, message: Sequence[ClaimedDelivery]) -> HandOver:
        """The hand-over of one message."""
        return HandOver(self, [d.claim for d in message])

    async def record(self, claims: list[Claim]) -> None:
        """Return once the claims' hand-over is committed; raise `NotHandedOver` if it is not."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((claims, waiter))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())
        await waiter

    async def _write(self) -> None:
        try:
            while self._queue:
                await asyncio.sleep(0)  # sends that reach the point in this turn of the loop join
                batch, self._queue = self._queue, []
                failure: Exception | None = None
                held: set[int] = set()
                try:
                    held = await self._ledger.hand_over([c for claims, _ in batch for c in claims])
                except TRANSIENT_DB_ERRORS as exc:
                    failure = NotHandedOver(f"hand-over not recorded: {type(exc).__name__}")
                except Exception as exc:  # noqa: BLE001 - a bug: each send raises it and sends nothing
                    failure = exc
                for claims, waiter in batch:
                    if waiter.done():  # its send was cancelled (a timeout) meanwhile
                        continue
                    if failure is None and all(c.delivery_id in held for c in claims):
                        waiter.set_result(None)
                    else:
                        waiter.set_exception(
                            failure or NotHandedOver("the claim was taken back before sending")
                        )
        finally:
            self._writer = None
