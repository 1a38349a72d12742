"""Where a referral's cost goes: per process and per Postgres statement, under steady load.

Run: `.venv/bin/python -m bench.costs [--rate 150] [--seconds 20]`

Starts the same stack as bench/e2e.py (Postgres with `pg_stat_statements`), warms it up, offers
open-loop load at one rate and prints, per referral delivered:

- per process group: user and system CPU, socket reads and writes (round trips; the services
  run on uvloop, whose reads and writes are counted syscalls) and context switches;
- per Postgres statement: calls, execution time, planning time (`track_planning`), shared
  buffers read and dirtied, and WAL bytes.

Round trips and calls do not depend on how busy the machine is, unlike timings: they are the
figures to compare before and after a change on a shared machine. Round 2 of issue 7 was
found with this (docs/PERFORMANCE.md, Before/after).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Mapping
from pathlib import Path

import asyncpg
import psutil
import uvloop

from bench.e2e import WARMUP_RATE, WARMUP_S, Arrivals, started_stack
from bench.loadgen import RawHttpClient, run_step
from referral_router.devinfra import postgres as local_postgres

Counters = dict[str, tuple[float, float, int, int, int]]
STATEMENTS_SQL = (
    "SELECT calls, total_exec_time, total_plan_time, shared_blks_hit, shared_blks_dirtied, wal_bytes,"
    " left(regexp_replace(query, '\\s+', ' ', 'g'), 80) AS q"
    " FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT $1"
)


def counters(groups: Mapping[str, int | None]) -> Counters:
    """user s, system s, reads, writes, context switches of each process tree."""
    out: Counters = {}
    for name, pid in groups.items():
        if pid is None:
            continue
        try:
            root = psutil.Process(pid)
            procs = [root] if name == "harness" else [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        user = system = 0.0
        reads = writes = switches = 0
        for proc in procs:
            try:
                times, io, ctx = proc.cpu_times(), proc.io_counters(), proc.num_ctx_switches()
            except psutil.Error:
                continue
            user, system = user + times.user, system + times.system
            reads, writes = reads + io.read_count, writes + io.write_count
            switches += ctx.voluntary + ctx.involuntary
        out[name] = (user, system, reads, writes, switches)
    return out


def with_statement_stats() -> None:
    """Make the benchmark's Postgres load pg_stat_statements and track planning."""
    plain = local_postgres.LocalPostgres._server_argv

    def argv(self: local_postgres.LocalPostgres) -> list[str]:
        return [*plain(self), "-c", "shared_preload_libraries=pg_stat_statements",
                "-c", "pg_stat_statements.track_planning=on"]  # fmt: skip

    local_postgres.LocalPostgres._server_argv = argv  # type: ignore[method-assign]


async def measure(rate: float, seconds: float, top: int) -> None:
    """Load the stack at `rate` and print the costs per referral."""
    with_statement_stats()
    with (
        tempfile.TemporaryDirectory(prefix="bench-costs-") as tmp,
        started_stack(Path(tmp), "tansu") as stack,
    ):
        arrivals = Arrivals(stack.sink_http)
        poller = asyncio.create_task(arrivals.run())
        client = RawHttpClient(stack.services.url("intake", "/v1/referrals"))
        warm = await run_step(client, WARMUP_RATE, WARMUP_S, seed=1)
        await arrivals.wait_for(set(warm.accepted()), timeout_s=120)
        conn = await asyncpg.connect(stack.database_url)
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute("SELECT pg_stat_statements_reset()")
        groups = stack.cpu_groups()
        before = counters(groups)
        load = await run_step(client, rate, seconds, seed=7)
        missing = await arrivals.wait_for(set(load.accepted()), timeout_s=60)
        after = counters(groups)
        n = max(1, len(load.accepted()) - len(missing))
        print(f"offered {rate}/s for {seconds} s: {n} delivered; per referral:")
        print(f"{'group':14} {'user ms':>8} {'sys ms':>8} {'reads':>7} {'writes':>7} {'ctx sw':>7}")
        for name, now in after.items():
            was = before.get(name, (0.0, 0.0, 0, 0, 0))
            user, system, reads, writes, switches = (b - a for a, b in zip(was, now, strict=True))
            ms = f"{user * 1000 / n:8.2f} {system * 1000 / n:8.2f}"
            print(f"{name:14} {ms} {reads / n:7.1f} {writes / n:7.1f} {switches / n:7.1f}")
        head = f"{'calls':>6} {'exec µs':>8} {'plan µs':>8} {'blocks':>7} {'dirtied':>7} {'WAL B':>6}"
        print(f"\n{head}  statement (per referral)")
        for row in await conn.fetch(STATEMENTS_SQL, top):
            exec_us, plan_us = row["total_exec_time"] * 1000 / n, row["total_plan_time"] * 1000 / n
            hit, dirtied, wal = (row["shared_blks_hit"] / n, row["shared_blks_dirtied"] / n,
                                 float(row["wal_bytes"]) / n)  # fmt: skip
            figures = f"{row['calls'] / n:6.2f} {exec_us:8.1f} {plan_us:8.1f}"
            figures += f" {hit:7.1f} {dirtied:7.2f} {wal:6.0f}"
            print(f"{figures}  {row['q']}")
        await conn.close()
        poller.cancel()
        await client.close()


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=150.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--top", type=int, default=25, help="statements to list")
    args = parser.parse_args()
    uvloop.run(measure(args.rate, args.seconds, args.top))


if __name__ == "__main__":
    main()
