"""Profile the four services under steady load with py-spy; print where their time goes.

Run: `.venv/bin/python -m bench.profile [--rate 30] [--seconds 25] [--out /tmp/profiles]`

Starts the same stack as bench/e2e.py, warms it up, offers open-loop load at one rate and, at
the same time, samples every service with `py-spy record --format raw` (collapsed stacks, one
file per service). Then prints, per service, the functions with the most samples on the stack
(inclusive) and at the top of it (self), so the largest costs stand out without a viewer.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg

from bench.e2e import WARMUP_RATE, WARMUP_S, Arrivals, started_stack
from bench.loadgen import RawHttpClient, run_step
from referral_router.stack import SERVICES

PY_SPY = Path(sys.executable).parent / "py-spy"


def top_frames(raw: Path, limit: int) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(inclusive, self) shares of samples per frame from a py-spy raw (collapsed) file."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text("utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    if total == 0:
        return [], []
    return (
        [(f, n / total) for f, n in inclusive.most_common(limit)],
        [(f, n / total) for f, n in own.most_common(limit)],
    )


def start_spy(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    """Start py-spy sampling one process into a raw (collapsed stacks) file."""
    argv = [str(PY_SPY), "record", "--pid", str(pid), "--duration", str(int(seconds)), "--format", "raw"]
    argv += ["--nonblocking", "--output", str(output)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def stages(database_url: str) -> dict[str, int]:
    """How far the referrals got: a growing gap between two stages names the bottleneck."""
    conn = await asyncpg.connect(database_url)
    try:
        return {
            "intake": await conn.fetchval("SELECT count(*) FROM intake.referrals"),
            "intake-unpublished": await conn.fetchval(
                "SELECT count(*) FROM intake.outbox WHERE published_at IS NULL"
            ),
            "assigned": await conn.fetchval("SELECT count(*) FROM assignment.assignments"),
            "assignment-unpublished": await conn.fetchval(
                "SELECT count(*) FROM assignment.outbox WHERE published_at IS NULL"
            ),
            "deliveries": await conn.fetchval("SELECT count(*) FROM notifications.deliveries"),
            "sent": await conn.fetchval(
                "SELECT count(*) FROM notifications.deliveries WHERE status = 'sent'"
            ),
        }
    finally:
        await conn.close()


STAGE_SQL = """
WITH received AS (
    SELECT convert_from(payload, 'UTF8')::json -> 'data' ->> 'referral_id' AS referral_id,
           created_at AS committed, published_at AS published
    FROM intake.outbox WHERE topic = 'referrals.received.v1'
), assigned AS (
    SELECT convert_from(o.payload, 'UTF8')::json -> 'data' ->> 'referral_id' AS referral_id,
           o.created_at AS committed, o.published_at AS published
    FROM assignment.outbox o WHERE o.topic = 'referrals.assigned.v1'
)
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.published - r.committed))
           AS intake_relay,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.committed - r.published))
           AS kafka_to_assigned,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.published - a.committed))
           AS assignment_relay,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.created_at - a.published))
           AS kafka_to_delivery,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.finished_at - d.created_at))
           AS delivery_to_sent
FROM received r JOIN assigned a USING (referral_id)
JOIN notifications.deliveries d ON d.referral_id = r.referral_id
"""


async def stage_delays(database_url: str) -> dict[str, float]:
    """Median seconds each hop took (commit -> publish -> next commit ... -> email sent)."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(STAGE_SQL)
    finally:
        await conn.close()
    assert row is not None
    return {k: round(float(v), 3) for k, v in row.items() if v is not None}


async def profile(rate: float, seconds: float, out: Path, limit: int, flavour: str = "tansu") -> None:
    """Load the stack and record every service at the same time."""
    with tempfile.TemporaryDirectory(prefix="bench-prof-") as tmp, started_stack(Path(tmp), flavour) as stack:
        arrivals = Arrivals(stack.sink_http)
        poller = asyncio.create_task(arrivals.run())
        client = RawHttpClient(stack.services.url("intake", "/v1/referrals"))
        warm = await run_step(client, WARMUP_RATE, WARMUP_S, seed=1)
        await arrivals.wait_for(set(warm.accepted()), timeout_s=120)
        spies = [start_spy(stack.services.pid(s), seconds - 5, out / f"{s}.txt") for s in SERVICES]
        load = await run_step(client, rate, seconds, seed=7)
        print("where the referrals are when the load ends:", await stages(stack.database_url))
        for spy in spies:
            spy.wait(timeout=60)
        missing = await arrivals.wait_for(set(load.accepted()), timeout_s=30)
        poller.cancel()
        await client.close()
        print(f"offered {rate}/s for {seconds} s: {len(load.accepted()) - len(missing)} delivered")
        print("median seconds per hop:", await stage_delays(stack.database_url))
    for service in SERVICES:
        inclusive, own = top_frames(out / f"{service}.txt", limit)
        print(f"\n=== {service}: inclusive")
        for frame, share in inclusive:
            print(f"{share:6.1%}  {frame[:150]}")
        print(f"--- {service}: self")
        for frame, share in own:
            print(f"{share:6.1%}  {frame[:150]}")


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-profiles"))
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(profile(args.rate, args.seconds, args.out, args.top))


if __name__ == "__main__":
    main()
