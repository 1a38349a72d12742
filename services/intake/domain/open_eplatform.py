"""The life of an Open ePlatform instance in intake (DOMAIN.md §4), and where polling resumes.

received → stored → delivered → done: mapped and committed, then confirmDelivery and setStatus
after the commit, each recorded, so a poller killed anywhere resumes at the first step not done.
received → rejected → rejected_reported: an instance that could not be taken, after a bounded
number of attempts (the mapping may be fixed meanwhile), its status set back in the portal; its
raw document is kept encrypted, so it can be re-mapped (received/rejected… → stored).
any state before done → gone: the portal no longer knows the instance (purged or deleted); it is
never asked for again, and alerted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class InstanceState(StrEnum):
    """Where an instance is in its life here (the states of migration 002)."""

    RECEIVED = "received"
    STORED = "stored"
    DELIVERED = "delivered"
    DONE = "done"
    REJECTED = "rejected"
    REJECTED_REPORTED = "rejected_reported"
    GONE = "gone"


REMAPPABLE = frozenset({InstanceState.RECEIVED, InstanceState.REJECTED, InstanceState.REJECTED_REPORTED})


AWAITING_CALLBACK = frozenset({InstanceState.STORED, InstanceState.DELIVERED, InstanceState.REJECTED})


class CallbackCall(StrEnum):
    """The callback service's operations intake uses."""

    CONFIRM_DELIVERY = "confirmDelivery"
    SET_STATUS = "setStatus"


class InstanceRejected(Exception):
    """This attempt at an instance failed, for a reason that names tags or paths, never answers."""

    def __init__(
        self,
        reason: str,
        first_submitted: datetime | None = None,
        *,
        raw: bytes | None = None,
        charset: str | None = None,
        gone: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.first_submitted = first_submitted
        self.raw = raw  # the document as fetched, to keep (encrypted) for a later re-mapping
        self.charset = charset
        self.gone = gone  # the portal no longer knows the instance: do not ask again


def raw_associated_data(flow_instance_id: int) -> bytes:
    """What a kept raw document's ciphertext is bound to: its instance."""
    return f"oep-raw:{flow_instance_id}".encode()


def retry_delay(interval_s: float, failed_rounds: int, max_delay_s: float) -> float:
    """The pause before the next poll round: the interval after a good round, doubled for each
    round failed in a row (a portal answering garbage is not asked every interval), at most
    `max_delay_s`."""
    if failed_rounds <= 0:
        return interval_s
    return float(min(interval_s * 2 ** min(failed_rounds, 30), max(max_delay_s, interval_s)))


@dataclass(frozen=True)
class TrackedInstance:
    """An instance whose callbacks are not all made: its state and the referrals it became."""

    flow_instance_id: int
    state: InstanceState
    referral_ids: tuple[str, ...]


@dataclass(frozen=True)
class KeptRaw:
    """An instance's raw document as kept: encrypted, with the charset it was served in."""

    flow_instance_id: int
    family_id: str
    state: InstanceState
    charset: str | None
    key_id: str
    ciphertext: bytes


@dataclass(frozen=True)
class CallbackStep:
    """The next callback an instance needs, and the state it reaches once the call succeeded."""

    call: CallbackCall
    accepted: bool  # setStatus with the "received" alias (True) or the "rejected" one (False)
    after: InstanceState


@dataclass(frozen=True)
class CursorMark:
    """What the cursor rule needs of one instance of a family."""

    state: InstanceState
    first_submitted: datetime | None


def may_import(state: InstanceState | None) -> bool:
    """Whether an instance listed by the portal is still to be imported (new, or retried)."""
    return state is None or state is InstanceState.RECEIVED


def state_after_failure(attempts: int, max_attempts: int) -> InstanceState:
    """After `attempts` failed attempts: retried next round, or rejected once the bound is reached."""
    return InstanceState.REJECTED if attempts >= max_attempts else InstanceState.RECEIVED


def next_callback(state: InstanceState) -> CallbackStep | None:
    """The callback an instance in `state` still needs, or None when it needs none."""
    if state is InstanceState.STORED:
        return CallbackStep(CallbackCall.CONFIRM_DELIVERY, True, InstanceState.DELIVERED)
    if state is InstanceState.DELIVERED:
        return CallbackStep(CallbackCall.SET_STATUS, True, InstanceState.DONE)
    if state is InstanceState.REJECTED:
        return CallbackStep(CallbackCall.SET_STATUS, False, InstanceState.REJECTED_REPORTED)
    return None


def cursor_after(instances: Iterable[CursorMark], floor: datetime | None = None) -> datetime | None:
    """Where a family's polling resumes: the newest submission seen, or `floor` (the end of a
    listed window, `toDate`) when later, but never past one still retried.

    None leaves the cursor where it is: nothing seen yet, or a retried instance whose submission
    time is unknown (it could not even be read), which the next listing must still include.
    """
    marks = list(instances)
    retried = [m.first_submitted for m in marks if m.state is InstanceState.RECEIVED]
    if retried:
        known = [t for t in retried if t is not None]
        return min(known) if len(known) == len(retried) else None
    seen = [t for t in (*(m.first_submitted for m in marks), floor) if t is not None]
    return max(seen) if seen else None
