"""Time as a dependency, so domain code never calls `datetime.now()` and tests control it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")


class Clock(Protocol):
    """Something that tells the current time as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current time in UTC."""
        return datetime.now(UTC)


class FixedClock:
    """A clock for tests that moves only when told."""

    def __init__(self, at: datetime) -> None:
        self._at = at

    def now(self) -> datetime:
        """The time this clock is set to."""
        return self._at

    def set(self, at: datetime) -> None:
        """Move the clock to `at`."""
        self._at = at


class ShiftedClock:
    """Dev and test time: `start` at the real instant `since`, running `rate` times as fast,
    and never later than the real now (then it is the real clock).

    The dev stack's `--accelerate` gives the services the simulator's clock this way, so the
    deadline scan and handovers follow the back-dated referrals; an end-to-end test sets a
    Saturday evening with it. Never configured in production.
    """

    def __init__(self, start: datetime, since: datetime, rate: float = 1.0) -> None:
        self.start, self.since, self.rate = start, since, rate

    def now(self) -> datetime:
        """The shifted instant, in UTC."""
        real = datetime.now(UTC)
        shifted = self.start + (real - self.since) * self.rate
        return min(shifted, real).astimezone(UTC)
