"""Idle benchmark (issue 25): what the whole stack costs between referrals, and how fast it wakes.

Run: `python -m bench.idle --idle-min 5` (`make bench-idle`; `make bench-idle KAFKA=apache`).

Starts the dev-shaped stack as bench/e2e.py does (Postgres, broker, SMTP sink and the four
services as separate processes on free ports, deploy/config/unit.example.yaml), sends a few
referrals so every consumer has joined and every path is warm, lets it settle, then leaves it
alone for the idle period. CPU per process tree is read from the kernel's tick counters at the
start and the end (so other work on the machine does not inflate it, it only slows it down);
memory is each tree's RSS and PSS at the end. Wake-ups a second (voluntary context switches over
all threads) and schedstat CPU per tree are read from /proc over the same window, next to a bare
asyncio process waking once a second (`calibration-1s`: what one wake-up a second costs on this
host today). After the idle period: one referral, and how long from its POST to its email in
the sink; then a burst at `--burst-rate` per second, its p99, and its p99 by second of sending.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import uvloop

from bench import cpu, report
from bench.e2e import HARNESS, Arrivals, Stack, percentile, started_stack
from bench.loadgen import RawHttpClient, StepLoad, run_step
from referral_router.stack import REPO, SERVICES

SETTLE_S = 30.0  # after the warm-up, before the idle window opens
WARM_REFERRALS_RATE, WARM_S = 2.0, 3.0
CPU_COLUMNS = (*SERVICES, "postgres", "broker")
CALIBRATION = "calibration-1s"  # a bare asyncio process waking once a second, for scale
ALONE = (*HARNESS, CALIBRATION)  # counted without their children
WAKE_COLUMNS = (*CPU_COLUMNS, "smtp-sink", CALIBRATION)


@dataclass
class IdleResult:
    """One idle run, as reported."""

    flavour: str
    label: str
    idle_s: float
    cpu_pct: dict[str, float]  # % of one core over the idle window, by process tree
    rss_mib: dict[str, float]
    pss_mib: dict[str, float]
    first_referral_s: float
    burst_rate: float
    burst_sent: int
    burst_delivered: int
    burst_p50_s: float
    burst_p99_s: float
    burst_max_s: float
    services_pct: float = 0.0
    system_pct: float = 0.0
    # Per process tree, from /proc over the same window: wake-ups a second (voluntary context
    # switches, all threads) and % of one core by schedstat; `calibration` is a bare asyncio
    # process waking once a second, run alongside (what one wake-up a second costs here today).
    wakeups_per_s: dict[str, float] = field(default_factory=dict)
    schedstat_pct: dict[str, float] = field(default_factory=dict)
    services_wakeups_per_s: float = 0.0
    # The burst's p99 by the second its referrals were sent in: high at first and falling means
    # the wake from rest (or joining) costs; rising means the stack fell behind the rate.
    burst_p99_by_second: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def memory(groups: dict[str, int | None]) -> tuple[dict[str, float], dict[str, float]]:
    """RSS and PSS (MiB) of each process tree; PSS shares Postgres' shared buffers fairly."""
    rss: dict[str, float] = {}
    pss: dict[str, float] = {}
    for name, pid in groups.items():
        if pid is None:
            continue
        try:
            root = psutil.Process(pid)
            procs = [root] if name in HARNESS else [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        r = p = 0
        for proc in procs:
            try:
                info = proc.memory_full_info()
            except psutil.Error:
                continue
            r += info.rss
            p += getattr(info, "pss", info.rss)
        rss[name], pss[name] = round(r / 2**20, 1), round(p / 2**20, 1)
    return rss, pss


async def delivered(arrivals: Arrivals, load: StepLoad, timeout_s: float) -> list[float]:
    """Wait for the load's emails; return each delivered referral's POST-to-email latency."""
    accepted = load.accepted()
    await arrivals.wait_for(set(accepted), timeout_s)
    return [arrivals.at[r] - t for r, t in accepted.items() if r in arrivals.at]


async def measure(stack: Stack, args: argparse.Namespace) -> IdleResult:
    """Warm up, idle, then the first referral and the burst."""
    client = RawHttpClient(stack.services.url("intake", "/v1/referrals"))
    arrivals = Arrivals(stack.sink_http)
    try:
        async with _polling(arrivals):
            warm = await run_step(client, WARM_REFERRALS_RATE, WARM_S, seed=1)
            if len(await delivered(arrivals, warm, 120)) != len(warm.sent):
                raise RuntimeError("warm-up referrals were not all emailed")
        await asyncio.sleep(SETTLE_S)
        calibration = cpu.start_calibration()
        groups = {**stack.cpu_groups(), CALIBRATION: calibration.pid}
        print(f"idle for {args.idle_min} min from {datetime.now():%H:%M:%S}", flush=True)
        before, began = cpu.snapshot(groups, alone=HARNESS), time.monotonic()
        counted = cpu.counters(groups, alone=ALONE)
        await asyncio.sleep(args.idle_min * 60)
        after, idle_s = cpu.snapshot(groups, alone=HARNESS), time.monotonic() - began
        woke = cpu.rates(counted, cpu.counters(groups, alone=ALONE), idle_s)
        calibration.terminate()
        calibration.wait()
        rss, pss = memory(stack.cpu_groups())
        used = cpu.used(before, after)
        async with _polling(arrivals):
            first = await run_step(client, 1.0, 1.0, seed=7)
            first_latency = await delivered(arrivals, first, 60)
            burst = await run_step(client, args.burst_rate, args.burst_s, seed=8)
            latencies = await delivered(arrivals, burst, 120)
            by_second = per_second(arrivals, burst)
    finally:
        await client.close()
    pct = {k: round(100 * v / idle_s, 3) for k, v in used.items() if k != CALIBRATION}
    wakeups = {k: w for k, (w, _) in woke.items()}
    return IdleResult(
        flavour=stack.flavour, label=args.label, idle_s=round(idle_s, 1), cpu_pct=pct,
        rss_mib=rss, pss_mib=pss, first_referral_s=first_latency[0] if first_latency else float("nan"),
        burst_rate=args.burst_rate, burst_sent=len(burst.sent), burst_delivered=len(latencies),
        burst_p50_s=percentile(latencies, 0.5), burst_p99_s=percentile(latencies, 0.99),
        burst_max_s=max(latencies, default=float("nan")),
        services_pct=round(sum(pct.get(s, 0.0) for s in SERVICES), 3),
        system_pct=round(sum(v for k, v in pct.items() if k not in HARNESS), 3),
        wakeups_per_s=wakeups, schedstat_pct={k: p for k, (_, p) in woke.items()},
        services_wakeups_per_s=round(sum(wakeups.get(s, 0.0) for s in SERVICES), 2),
        burst_p99_by_second=by_second,
    )  # fmt: skip


def per_second(arrivals: Arrivals, load: StepLoad) -> list[float]:
    """p99 latency (s) of the delivered referrals sent in each second of a load."""
    accepted = load.accepted()
    if not accepted:
        return []
    start = min(accepted.values())
    seconds: dict[int, list[float]] = {}
    for referral, sent in accepted.items():
        if referral in arrivals.at:
            seconds.setdefault(int(sent - start), []).append(arrivals.at[referral] - sent)
    return [round(percentile(seconds.get(i, []), 0.99), 3) for i in range(max(seconds, default=-1) + 1)]


class _polling:
    """The sink poller runs only around traffic, so the idle window has no harness requests."""

    def __init__(self, arrivals: Arrivals) -> None:
        self._arrivals = arrivals
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> None:
        self._task = asyncio.create_task(self._arrivals.run())

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()


def summary(r: IdleResult) -> str:
    """One human line per run."""
    parts = ", ".join(f"{k} {v:.2f} %" for k, v in r.cpu_pct.items())
    wakes = ", ".join(f"{k} {v:.2f}" for k, v in r.wakeups_per_s.items())
    sched = ", ".join(f"{k} {v:.2f}" for k, v in r.schedstat_pct.items())
    return (
        f"{r.flavour} ({r.label}), idle {r.idle_s / 60:.1f} min: services {r.services_pct:.2f} %,"
        f" system {r.system_pct:.2f} % of one core [{parts}]; first referral emailed in"
        f" {r.first_referral_s:.2f} s; burst {r.burst_rate:.0f}/s: {r.burst_delivered}/{r.burst_sent}"
        f" delivered, p99 {r.burst_p99_s * 1000:.0f} ms\n  wake-ups/s: services"
        f" {r.services_wakeups_per_s:.2f} [{wakes}]; schedstat % [{sched}]\n  burst p99 by second:"
        f" {' '.join(f'{v:.2f}' for v in r.burst_p99_by_second)}"
    )


def tables(paths: list[Path]) -> str:
    """Markdown tables (CPU, then memory and latency) of runs, one row per results file."""
    runs = [json.loads(p.read_text("utf-8"))["result"] for p in paths]
    head = " | ".join(CPU_COLUMNS)
    cpu_rows = [
        f"| {r['flavour']} | {r['label']} | {r['idle_s'] / 60:.0f} | "
        + " | ".join(f"{r['cpu_pct'].get(c, float('nan')):.2f}" for c in CPU_COLUMNS)
        + f" | **{r['services_pct']:.2f}** | **{r['system_pct']:.2f}** |"
        for r in runs
    ]
    mem_rows = [
        f"| {r['flavour']} | {r['label']} | "
        + " | ".join(f"{r['rss_mib'].get(c, 0):.0f} / {r['pss_mib'].get(c, 0):.0f}" for c in CPU_COLUMNS)
        + f" | {r['first_referral_s']:.2f} | {r['burst_delivered']}/{r['burst_sent']}"
        f" | {r['burst_p50_s'] * 1000:.0f} | {r['burst_p99_s'] * 1000:.0f} |"
        for r in runs
    ]
    wake_head = " | ".join(WAKE_COLUMNS)
    wake_rows = [
        f"| {r['flavour']} | {r['label']} | "
        + " | ".join(_wake_cell(r, c) for c in WAKE_COLUMNS)
        + f" | **{r['services_wakeups_per_s']:.2f}** |"
        for r in runs
        if r.get("wakeups_per_s")
    ]
    wake_table = [
        "",
        f"| broker | code | {wake_head} | services |",
        "|---|---|" + "---:|" * (len(WAKE_COLUMNS) + 1),
        *wake_rows,
    ]
    return "\n".join(
        [
            f"| broker | code | idle min | {head} | services | system |",
            "|---|---|---:|" + "---:|" * (len(CPU_COLUMNS) + 2),
            *cpu_rows,
            "",
            f"| broker | code | {head} | first referral s | burst emailed | burst p50 ms | burst p99 ms |",
            "|---|---|" + "---:|" * (len(CPU_COLUMNS) + 4),
            *mem_rows,
            *(wake_table if wake_rows else []),
        ]
    )


def _wake_cell(run: dict[str, Any], column: str) -> str:
    """Wake-ups a second (and schedstat % of one core) of one process tree in a run."""
    wakes, sched = run["wakeups_per_s"].get(column), run["schedstat_pct"].get(column)
    return "–" if wakes is None else f"{wakes:.2f} ({sched:.2f} %)"


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """Run once; return the results as one JSON-able dict."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp,
        started_stack(Path(tmp), args.flavour) as stack,
    ):
        result = await measure(stack, args)
        versions = await report.versions(stack.database_url, stack.flavour)
    return {
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": report.machine(),
        "versions": versions,
        "load_average": os.getloadavg(),
        "result": asdict(result),
    }


def main() -> None:
    """Command line: run, print, write the JSON results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--idle-min", type=float, default=5.0, help="minutes left alone (default 5)")
    parser.add_argument("--burst-rate", type=float, default=50.0, help="referrals per second after the idle")
    parser.add_argument("--burst-s", type=float, default=20.0, help="seconds of the burst")
    parser.add_argument("--label", default="current", help="a name for this run in the results")
    parser.add_argument(
        "--json", type=Path, help="results file (default bench/results/idle-<flavour>-<label>.json)"
    )
    parser.add_argument(
        "--flavour", choices=("tansu", "apache"), default=os.environ.get("TEST_KAFKA") or "tansu"
    )
    parser.add_argument("--tables", type=Path, nargs="+", help="only print Markdown tables of these results")
    args = parser.parse_args()
    if args.tables:
        print(tables(args.tables))
        return
    # The broker as production runs it: Kafka's own controller session (kafka.sh shortens it for
    # the crash tests, at four heartbeats a second) and no JVM statistics sampling every 50 ms.
    os.environ.setdefault("KAFKA_BROKER_SESSION_TIMEOUT_MS", "9000")
    os.environ.setdefault("KAFKA_BROKER_HEARTBEAT_INTERVAL_MS", "2000")
    os.environ.setdefault("KAFKA_JVM_OPTS", "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData")
    results = uvloop.run(main_async(args))
    path = args.json or REPO / "bench" / "results" / f"idle-{args.flavour}-{args.label}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1), "utf-8")
    print(summary(IdleResult(**results["result"])))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
