"""The delivery state machine (DESIGN.md §2): the part of the service that must never send twice.

A delivery moves `pending → sending → sent | failed | unknown`; a send that failed in a way that
certainly left nothing puts it back to `pending` for a later attempt. Held deliveries (quiet
hours) are pending ones that wait for a digest; they move the same way.

| from                                   | on                               | to                         |
|----------------------------------------|----------------------------------|----------------------------|
| pending, due                           | claim (attempt + 1, lease)       | sending, not handed over   |
| sending, claim holds                   | hand-over (before DATA/the POST) | sending, handed over       |
| sending, claim holds                   | sent                             | sent                       |
| sending, claim holds, attempts left    | refused (retryable)              | pending, after the backoff |
|                                        |                                  | or exactly Retry-After     |
| sending, claim holds, last attempt     | refused                          | failed                     |
| sending, claim holds                   | rejected (permanent)             | failed                     |
| sending, claim holds, handed over      | in doubt (timeout, lost link)    | unknown                    |
| sending, claim holds, not handed over  | in doubt                         | as refused: nothing left   |
| sending, lease over, handed over       | reap                             | unknown                    |
| sending, lease over, not handed over   | reap                             | pending now (failed if it  |
|                                        |                                  | was the last attempt)      |
| sent, failed, unknown                  | anything                         | nothing: final, never      |
|                                        |                                  | claimed again              |

A claim is the delivery's id and the attempt number it was given. Every write a claimant makes
names its claim and changes nothing once the claim no longer holds (the reaper took it back, and
perhaps another worker claimed the delivery again), so a stalled sender's late result is lost
harmlessly. `unknown` is never resent: a person checks it.

Pure: time and randomness come in as arguments; the stores only persist what these functions
decide.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """Where a delivery is in its life."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"


FINAL = frozenset({Status.SENT, Status.FAILED, Status.UNKNOWN})

# Every status change the machine makes (a hand-over keeps `sending`).
TRANSITIONS: frozenset[tuple[Status, Status]] = frozenset(
    {
        (Status.PENDING, Status.SENDING),
        (Status.SENDING, Status.SENDING),
        (Status.SENDING, Status.PENDING),
        (Status.SENDING, Status.SENT),
        (Status.SENDING, Status.FAILED),
        (Status.SENDING, Status.UNKNOWN),
    }
)


class Retryable(Exception):
    """A send certainly delivered nothing, and is worth trying again (after `retry_after_s` if
    the other side asked for a pause)."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class NotHandedOver(Retryable):
    """The hand-over could not be recorded, or the claim was taken back: nothing was sent."""


class Permanent(Exception):
    """A send certainly delivered nothing, and trying again will not help."""


class Ambiguous(Exception):
    """A send may or may not have reached the other side."""


class TransitionRefused(Exception):
    """A move the state machine does not allow (a bug in the caller, never an outcome)."""


@dataclass(frozen=True)
class Sent:
    """The other side accepted the message (SMTP 250 after DATA, Teams 202)."""


SendResult = Sent | Retryable | Permanent | Ambiguous
"""What became of one send, as a sender reports it."""


@dataclass(frozen=True)
class RetryBudget:
    """How often and how patiently a delivery is tried."""

    max_attempts: int = 8
    max_backoff_s: float = 300.0

    def backoff(self, attempts: int, jitter: float) -> timedelta:
        """Exponential backoff after `attempts`, with `jitter` in [0, 1] taking up to half off."""
        if not 0.0 <= jitter <= 1.0:
            raise ValueError("jitter must lie in [0, 1]")
        return timedelta(seconds=min(self.max_backoff_s, 2.0**attempts) * (0.5 + 0.5 * jitter))


@dataclass(frozen=True)
class Claim:
    """The right of one sender to one attempt of one delivery."""

    delivery_id: int
    attempt: int


@dataclass(frozen=True)
class DeliveryState:
    """What the state machine knows of a delivery."""

    id: int
    next_attempt_at: datetime
    status: Status = Status.PENDING
    attempts: int = 0
    lease_until: datetime | None = None
    handed_over: bool = False
    last_error: str | None = None

    @property
    def claim(self) -> Claim:
        """The claim this delivery is being sent under."""
        if self.status is not Status.SENDING:
            raise TransitionRefused(f"a {self.status} delivery is not claimed")
        return Claim(self.id, self.attempts)


@dataclass(frozen=True)
class Finish:
    """A claim's final outcome: `sent`, `failed` or `unknown`."""

    claim: Claim
    status: Status
    error: str | None = None

    def __post_init__(self) -> None:
        if self.status not in FINAL:
            raise TransitionRefused(f"{self.status} is not a final status")


@dataclass(frozen=True)
class RetryLater:
    """A claim that certainly sent nothing goes back to pending until `not_before`."""

    claim: Claim
    not_before: datetime
    error: str


Decision = Finish | RetryLater
"""What a claim ends in: a final status, or pending again."""


def is_due(state: DeliveryState, now: datetime) -> bool:
    """Pending and its time has come: a claim may take it."""
    return state.status is Status.PENDING and state.next_attempt_at <= now


def claim(state: DeliveryState, now: datetime, lease: timedelta) -> DeliveryState:
    """Take a due delivery for one more attempt, for `lease` (longer than any send can take)."""
    if not is_due(state, now):
        raise TransitionRefused(f"only a due pending delivery can be claimed, not a {state.status} one")
    attempts, lease_until = state.attempts + 1, now + lease
    return _moved(state, Status.SENDING, attempts=attempts, lease_until=lease_until, handed_over=False)


def holds(state: DeliveryState, claim: Claim) -> bool:
    """Whether `claim` is still the delivery's current one (no reap, no newer claim since)."""
    return (
        state.id == claim.delivery_id and state.status is Status.SENDING and state.attempts == claim.attempt
    )


def hand_over(state: DeliveryState, claim: Claim) -> DeliveryState:
    """Record that the claim's message is about to leave; refused once the claim no longer holds.

    Handing over again under the same claim changes nothing (one claim, one message)."""
    if not holds(state, claim):
        raise NotHandedOver("the claim was taken back before sending")
    return _moved(state, Status.SENDING, handed_over=True)


def after_send(
    claim: Claim,
    handed_over: bool,
    result: SendResult,
    now: datetime,
    budget: RetryBudget,
    jitter: float,
) -> Decision:
    """What one send means for its claim.

    Doubt after the hand-over is `unknown`, never resent. Doubt before it certainly sent nothing
    and counts as a refusal; a refusal is retried after exactly Retry-After when one was given,
    else after a jittered exponential backoff, until the budget is spent.
    """
    if isinstance(result, Sent):
        return Finish(claim, Status.SENT)
    if isinstance(result, Permanent):
        return Finish(claim, Status.FAILED, str(result))
    if isinstance(result, Ambiguous):
        if handed_over:
            return Finish(claim, Status.UNKNOWN, str(result))
        result = Retryable(f"{result}, before the message was handed over")
    if claim.attempt >= budget.max_attempts:
        return Finish(claim, Status.FAILED, str(result))
    if result.retry_after_s is not None:
        wait = timedelta(seconds=result.retry_after_s)
    else:
        wait = budget.backoff(claim.attempt, jitter)
    return RetryLater(claim, now + wait, str(result))


def is_abandoned(state: DeliveryState, now: datetime) -> bool:
    """A claim past its lease: its sender died or stalled."""
    return state.status is Status.SENDING and state.lease_until is not None and state.lease_until < now


def after_lease(claim: Claim, handed_over: bool, now: datetime, budget: RetryBudget) -> Decision:
    """What the reaper makes of an abandoned claim.

    Handed over: the message may have left, so `unknown`. Not handed over: certainly nothing left,
    so pending again at once (`failed` if that was its last attempt)."""
    if handed_over:
        return Finish(claim, Status.UNKNOWN, "sender stopped after handing the message over")
    if claim.attempt >= budget.max_attempts:
        return Finish(claim, Status.FAILED, "sender stopped before sending, on the last attempt")
    return RetryLater(claim, now, "sender stopped before sending")


def apply(state: DeliveryState, decision: Decision) -> DeliveryState:
    """Apply a claim's decision; refused when the claim no longer holds (stores skip those)."""
    if not holds(state, decision.claim):
        raise TransitionRefused("the claim no longer holds")
    ended = {"lease_until": None, "last_error": decision.error}  # the claim ends either way
    if isinstance(decision, Finish):
        return _moved(state, decision.status, **ended)
    return _moved(state, Status.PENDING, next_attempt_at=decision.not_before, **ended)


def _moved(state: DeliveryState, status: Status, **changes: Any) -> DeliveryState:
    """The state after a status change, which must be one of TRANSITIONS."""
    if (state.status, status) not in TRANSITIONS:
        raise TransitionRefused(f"no transition from {state.status} to {status}")
    return replace(state, status=status, **changes)
