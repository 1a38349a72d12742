"""In-memory fakes of the Open ePlatform poller's state and turn (`memory.py` holds the rest)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from services.intake.domain.open_eplatform import (
    AWAITING_CALLBACK,
    REMAPPABLE,
    CursorMark,
    InstanceState,
    KeptRaw,
    TrackedInstance,
    cursor_after,
    state_after_failure,
)


@dataclass
class InstanceRow:
    """One row of `oep_instances`."""

    family_id: str
    state: InstanceState
    attempts: int
    first_submitted: datetime | None
    submission_id: str | None = None
    referral_ids: tuple[str, ...] = ()
    last_error: str | None = None
    raw: tuple[str | None, str, bytes] | None = None  # charset, key id, ciphertext


class InMemoryOepInstanceStore:
    """The poller's state over the fake tables, by the domain's rules."""

    def __init__(
        self,
        instances: dict[int, InstanceRow],
        cursors: dict[str, datetime],
        in_transaction: Callable[[], None],
    ) -> None:
        self._instances, self._cursors, self._in_transaction = instances, cursors, in_transaction

    async def state_of(self, flow_instance_id: int) -> InstanceState | None:
        """The instance's state, if seen."""
        self._in_transaction()
        row = self._instances.get(flow_instance_id)
        return None if row is None else row.state

    async def record_stored(
        self,
        flow_instance_id: int,
        family_id: str,
        first_submitted: datetime,
        submission_id: str,
        referral_ids: Sequence[str],
    ) -> None:
        """Mark it stored."""
        self._in_transaction()
        row = self._instances.get(flow_instance_id)
        attempts = 1 if row is None else row.attempts + 1
        self._instances[flow_instance_id] = InstanceRow(
            family_id if row is None else row.family_id, InstanceState.STORED, attempts,
            first_submitted, submission_id, tuple(referral_ids), raw=None,
        )  # fmt: skip

    async def record_failure(
        self,
        flow_instance_id: int,
        family_id: str,
        reason: str,
        max_attempts: int,
        first_submitted: datetime | None,
    ) -> tuple[InstanceState, int]:
        """Count a failed attempt at an instance still to be imported."""
        self._in_transaction()
        row = self._instances.get(flow_instance_id)
        if row is None:
            row = self._instances[flow_instance_id] = InstanceRow(family_id, InstanceState.RECEIVED, 0, None)
        elif row.state is not InstanceState.RECEIVED:
            raise LookupError(f"instance {flow_instance_id} is no longer to be imported")
        row.attempts += 1
        row.state = state_after_failure(row.attempts, max_attempts)
        row.first_submitted = first_submitted or row.first_submitted
        row.last_error = reason
        return row.state, row.attempts

    async def advance(
        self, flow_instance_id: int, from_state: InstanceState, to_state: InstanceState
    ) -> None:
        """Move it on if it is still in `from_state`."""
        self._in_transaction()
        row = self._instances.get(flow_instance_id)
        if row is not None and row.state is from_state:
            row.state = to_state

    async def awaiting_callback(self, flow_instance_id: int | None = None) -> list[TrackedInstance]:
        """Instances whose callbacks are not all made, by id."""
        self._in_transaction()
        return [
            TrackedInstance(iid, row.state, row.referral_ids)
            for iid, row in sorted(self._instances.items())
            if row.state in AWAITING_CALLBACK and flow_instance_id in (None, iid)
        ]

    async def cursor(self, family_id: str) -> datetime | None:
        """The family's cursor, if set."""
        self._in_transaction()
        return self._cursors.get(family_id)

    async def move_cursor(self, family_id: str, floor: datetime | None = None) -> None:
        """Move it by the domain's rule; None leaves it."""
        self._in_transaction()
        marks = [
            CursorMark(r.state, r.first_submitted)
            for r in self._instances.values()
            if r.family_id == family_id
        ]
        at = cursor_after(marks, floor)
        if at is not None:
            self._cursors[family_id] = at

    async def keep_raw(
        self, flow_instance_id: int, charset: str | None, key_id: str, ciphertext: bytes, size: int
    ) -> None:
        """Keep the encrypted raw document on the instance's row."""
        self._in_transaction()
        self._instances[flow_instance_id].raw = (charset, key_id, ciphertext)

    async def raw_of(self, flow_instance_id: int | None = None) -> list[KeptRaw]:
        """Kept raw documents of instances still to be re-mapped, by id."""
        self._in_transaction()
        return [
            KeptRaw(iid, row.family_id, row.state, *row.raw)
            for iid, row in sorted(self._instances.items())
            if row.raw is not None and row.state in REMAPPABLE and flow_instance_id in (None, iid)
        ]

    async def raw_not_under(self, key_id: str, limit: int) -> list[KeptRaw]:
        """Kept raw documents under another key (the fake holds no locks)."""
        self._in_transaction()
        return [
            KeptRaw(iid, row.family_id, row.state, *row.raw)
            for iid, row in sorted(self._instances.items())
            if row.raw is not None and row.raw[1] != key_id
        ][:limit]

    async def record_gone(
        self, flow_instance_id: int, family_id: str | None, reason: str
    ) -> InstanceState | None:
        """Mark it gone unless done; return the state it had."""
        self._in_transaction()
        row = self._instances.get(flow_instance_id)
        if row is None:
            if family_id is None:
                raise LookupError(f"instance {flow_instance_id} has no row and no family was given")
            self._instances[flow_instance_id] = InstanceRow(
                family_id, InstanceState.GONE, 1, None, last_error=reason
            )
            return None
        before = row.state
        if before is not InstanceState.DONE:
            row.state, row.last_error = InstanceState.GONE, reason
        return before


class InMemoryPollerTurn:
    """One turn, held by one round at a time."""

    def __init__(self) -> None:
        self.held = False

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        """Yields False while another round holds the turn."""
        if self.held:
            yield False
            return
        self.held = True
        try:
            yield True
        finally:
            self.held = False
