"""The delivery worker at rest (issue 25): after a quiet round it sleeps until the next delivery
is due, never past its safety poll and never less than a second; after sending it looks again
within a second."""

from __future__ import annotations

import pytest

from services.notifications.timers import RECHECK_S, DeliveryWorker, WorkerSettings

POLL_S = 30.0


def _worker(until: float | None) -> DeliveryWorker:
    async def nothing() -> int:
        return 0

    async def seconds_until_due() -> float | None:
        return until

    async def no_connection() -> None:
        raise AssertionError("not used")

    return DeliveryWorker(
        nothing, nothing, WorkerSettings(poll_interval_s=POLL_S), no_connection, seconds_until_due
    )


@pytest.mark.parametrize(
    ("claimed", "until", "wait"),
    [
        (0, None, POLL_S),  # nothing pending: only a NOTIFY or the safety poll
        (0, 12.5, 12.5),  # a retry or a Teams slot due in 12.5 s
        (0, 4000.0, POLL_S),  # a digest due tomorrow: still the safety poll
        (0, 0.2, RECHECK_S),  # due (nearly) now but not claimable yet: not a busy loop
        (0, -3.0, RECHECK_S),
        (5, None, RECHECK_S),  # it just sent: look again soon (Teams slots free a second apart)
    ],
)
async def test_a_quiet_round_waits_until_the_next_due_time_within_bounds(claimed, until, wait):
    assert await _worker(until)._wait_s(claimed) == wait
