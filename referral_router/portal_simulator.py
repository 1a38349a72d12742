"""A portal simulator: posts synthetic, signed referrals to the intake API at a steady rate.

It goes through the real portal API (HMAC-signed as the dev portal client), so what it shows is
what a real e-service portal would cause. With time acceleration it sends back-dated
`submitted_at` values: a simulated clock starts in the past and runs F times faster than the
wall clock until it reaches the present, so several rotation periods pass in minutes. Intake
takes `submitted_at` as the legal receipt time (it has no lower bound, only "at most 5 minutes
in the future"), and assignment routes by that time, so each referral goes to the team that was
on duty when it was, in simulated time, submitted.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from referral_router.referral_mix import Mix, ReportMaker
from referral_router.stack import DEV_PORTAL_CLIENT, DEV_PORTAL_SECRET
from services.intake.signatures import sign
from shared.clock import ShiftedClock

DEFAULT_BACKDATE = timedelta(days=42)  # three 14-day rotation periods


class SimClock:
    """Simulated time: `start` + `factor` × elapsed wall time, never later than the real now.

    `since` is the real instant at which it reads `start` (by default: now). The dev stack gives
    the services the same clock (`dev_clock_env`), so their deadline scan and handovers keep
    pace with the back-dated referrals the simulator submits.
    """

    def __init__(
        self, factor: float = 1.0, backdate: timedelta = DEFAULT_BACKDATE, since: datetime | None = None
    ) -> None:
        self.factor = factor
        self.since = since or datetime.now(UTC)
        self.start = self.since - (backdate if factor > 1 else timedelta(0))
        self._clock = ShiftedClock(self.start, self.since, factor)

    @property
    def accelerated(self) -> bool:
        """True while the simulated clock runs ahead of wall time (it has not caught up yet)."""
        return self.factor > 1 and self.now() < datetime.now(UTC) - timedelta(seconds=1)

    def now(self) -> datetime:
        """The simulated instant; it never lies in the future, which intake would reject."""
        return self._clock.now()

    def dev_clock_env(self) -> dict[str, str]:
        """The services' `DEV_CLOCK__*` settings for this clock; none when it is the real one."""
        if self.factor <= 1:
            return {}
        return {
            "DEV_CLOCK__START": self.start.isoformat(),
            "DEV_CLOCK__SINCE": self.since.isoformat(),
            "DEV_CLOCK__RATE": repr(self.factor),
        }


@dataclass
class SimulatorStats:
    """What the simulator did, for the live view (counts only; no personal data)."""

    sent: int = 0
    accepted: int = 0
    rejected: int = 0  # 4xx: a bug in the simulator or in intake; shown, never hidden
    retried: int = 0  # 503 or no connection: sent again later
    repeats: int = 0
    last_status: int | None = None
    clock: SimClock = field(default_factory=SimClock)


async def post_submission(client: httpx.AsyncClient, url: str, body: dict[str, object]) -> httpx.Response:
    """POST one submission, signed as the dev portal (the signature uses the real time)."""
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = {
        "content-type": "application/json",
        "x-client-id": DEV_PORTAL_CLIENT,
        "x-signature": sign(DEV_PORTAL_SECRET, int(time.time()), raw),
    }
    return await client.post(url, content=raw, headers=headers)


async def simulate(
    intake_url: str,
    rate_per_s: float,
    *,
    seed: int | None = None,
    count: int | None = None,
    stats: SimulatorStats | None = None,
    mix: Mix | None = None,
) -> int:
    """Post submissions until cancelled (or `count` were accepted); return how many were accepted.

    A 503 or a refused connection is sent again after a pause, as a portal would; the same
    submission id makes the retry idempotent.
    """
    stats = stats or SimulatorStats()
    maker = ReportMaker(random.Random(seed), mix or Mix(), prefix=f"sim-{int(time.time())}")
    async with httpx.AsyncClient(timeout=10) as client:
        while count is None or stats.accepted < count:
            report = maker.make(stats.clock.now())
            await _deliver(client, f"{intake_url}/v1/referrals", report.body, stats)
            stats.repeats += report.repeat
            await asyncio.sleep(1.0 / rate_per_s)
    return stats.accepted


async def _deliver(
    client: httpx.AsyncClient, url: str, body: dict[str, object], stats: SimulatorStats
) -> None:
    stats.sent += 1
    for _attempt in range(30):
        try:
            response = await post_submission(client, url, body)
        except httpx.TransportError:
            response = None  # intake restarting: try again shortly
        if response is not None:
            stats.last_status = response.status_code
            if response.status_code in (200, 202):
                stats.accepted += 1
                return
            if response.status_code != 503:
                stats.rejected += 1
                return
        stats.retried += 1
        await asyncio.sleep(1.0)
