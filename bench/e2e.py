"""End-to-end benchmark: POST to intake -> assigned -> email in the SMTP sink (issue 7).

Run: `python -m bench.e2e --report docs/PERFORMANCE.md` (`make bench`; `make bench KAFKA=apache`
runs it against Apache Kafka and writes docs/PERFORMANCE-apache.md).

Starts its own Postgres (fsync on, as in production), broker, SMTP sink and the four services as
separate processes with deploy/config/unit.example.yaml, then offers open-loop load at rising
rates. Each step sends `rate x step` signed one-child submissions on a fixed schedule; a
referral's latency is the time its email arrived in the sink minus the instant its POST was due
to leave. Achieved throughput counts emails that arrived in the step's steady window. The
stepping stops at the first step where delivery does not keep up. Then the same Postgres and
broker are measured bare (bench/baselines.py) and the report is written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvloop

from bench import baselines, cpu, report
from bench.loadgen import RawHttpClient, StepLoad, run_step
from referral_router.devinfra.postgres import LocalPostgres
from referral_router.devinfra.procs import free_port, spawn, stop_process, wait_for_http
from referral_router.devinfra.tansu import LocalTansu
from referral_router.stack import REPO, SERVICES, ApacheKafka, ServiceConfig, ServiceProcesses
from shared.events import TOPIC_RECEIVED
from tests.e2e.conftest import free_ports

SECRETS = {"key_id": "bench-1", "key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "pepper": "bench"}
DEFAULT_RATES = (25, 50, 75, 100, 125, 150, 200, 250, 300, 400)
REFERRAL_ID = re.compile(r"R-[0-9A-Z]{12}")
WARMUP_RATE, WARMUP_S = 10.0, 10.0
HARNESS = ("harness", "smtp-sink")  # measured, but not the system's cost
KEEP_UP_SHARE = 0.95  # achieved / offered at or above this ...
KEEP_UP_P95_S = 2.0  # ... with p95 below this and nothing undelivered: the step kept up


@dataclass
class Stack:
    """Everything the benchmark started; stopped in reverse order."""

    root: Path
    flavour: str
    pg: LocalPostgres
    broker: LocalTansu | ApacheKafka
    bootstrap: str
    database_url: str
    sink: Any
    sink_http: int
    services: ServiceProcesses

    def broker_pid(self) -> int | None:
        """The broker's process id (Tansu's child, or Apache's recorded pid)."""
        if isinstance(self.broker, LocalTansu):
            return self.broker.pid
        pid_file = self.broker.workdir / "kafka.pid"
        return int(pid_file.read_text().strip()) if pid_file.exists() else None

    def cpu_groups(self) -> dict[str, int | None]:
        """Process trees whose CPU is the system's cost: four services, Postgres, broker."""
        groups: dict[str, int | None] = {s: self.services.pid(s) for s in SERVICES}
        groups["postgres"] = self.pg.pid
        groups["broker"] = self.broker_pid()
        groups["harness"] = os.getpid()
        groups["smtp-sink"] = self.sink.pid
        return groups


@contextmanager
def started_stack(root: Path, flavour: str) -> Iterator[Stack]:
    """Postgres, broker, SMTP sink and the four services on free ports; all stopped on exit."""
    pg = LocalPostgres(root / "pg", free_port(), fsync=True)
    broker: LocalTansu | ApacheKafka = (
        ApacheKafka(root / "apache") if flavour == "apache" else LocalTansu(free_port(), root / "tansu.log")
    )
    ports = free_ports()
    sink = None
    services: ServiceProcesses | None = None
    try:
        database_url = pg.start()
        bootstrap = broker.start()
        sink = spawn(
            "smtp-sink",
            [sys.executable, "-m", "referral_router.devinfra.smtp_sink",
             "--smtp-port", str(ports.smtp), "--http-port", str(ports.smtp_http)],
            root / "logs" / "smtp-sink.log", cwd=REPO,
        )  # fmt: skip
        wait_for_http(f"http://127.0.0.1:{ports.smtp_http}/healthz", 30)
        config = ServiceConfig(
            database_url=database_url, bootstrap=bootstrap, flavour=flavour, ports=ports,
            secrets=SECRETS, topic_prefix="bench.",
        )  # fmt: skip
        services = ServiceProcesses(config, root / "logs")
        services.start_all()
        yield Stack(root, flavour, pg, broker, bootstrap, database_url, sink, ports.smtp_http, services)
    finally:
        if services is not None:
            services.stop_all()
        if sink is not None:
            stop_process(sink)
        broker.stop()
        pg.stop("fast")


class Arrivals:
    """Polls the sink's cheap /arrivals listing: referral id -> when its email arrived."""

    def __init__(self, sink_http: int) -> None:
        self._url = f"http://127.0.0.1:{sink_http}/arrivals"
        self._last = 0
        self.at: dict[str, float] = {}
        self.extra = 0  # a second email about the same referral (there should be none)

    async def poll(self, client: httpx.AsyncClient) -> None:
        """Fetch what arrived since the last poll."""
        response = await client.get(self._url, params={"after": self._last})
        for message in response.json():
            self._last = message["id"]
            found = REFERRAL_ID.search(message["subject"])
            if found is None:
                continue
            arrived = datetime.fromisoformat(message["received_at"]).timestamp()
            if found.group(0) in self.at:
                self.extra += 1
            else:
                self.at[found.group(0)] = arrived

    async def run(self) -> None:
        """Poll every 0.5 s until cancelled."""
        async with httpx.AsyncClient(timeout=30) as client:
            while True:
                await self.poll(client)
                await asyncio.sleep(0.5)

    async def wait_for(self, ids: set[str], timeout_s: float) -> set[str]:
        """Wait until every id arrived or the timeout passed; return the missing ones."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not ids - self.at.keys():
                break
            await asyncio.sleep(0.25)  # the poller fills `at` on its own schedule
        return ids - self.at.keys()


@dataclass
class StepResult:
    """One offered rate, as reported."""

    offered: float
    sent: int
    accepted: int
    errors: int
    delivered: int
    achieved: float
    p50_s: float
    p95_s: float
    p99_s: float
    max_s: float
    cpu_per_referral: float
    cpu_by_group: dict[str, float] = field(default_factory=dict)
    generator_late_s: float = 0.0
    error_kinds: dict[str, int] = field(default_factory=dict)
    kept_up: bool = False


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by the nearest-rank method; NaN when there are no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summarise(load: StepLoad, arrivals: Arrivals, cpu_used: dict[str, float], warm_s: float) -> StepResult:
    """Latency, steady-window throughput and CPU per delivered referral for one step."""
    accepted = load.accepted()
    latencies = [arrivals.at[r] - t for r, t in accepted.items() if r in arrivals.at]
    window_start, window_end = load.started + warm_s, load.started + load.duration_s
    in_window = sum(1 for r in accepted if window_start <= arrivals.at.get(r, 0.0) < window_end)
    delivered = len(latencies)
    system = sum(v for k, v in cpu_used.items() if k not in HARNESS)
    result = StepResult(
        offered=load.rate, sent=len(load.sent), accepted=len(accepted), errors=load.errors,
        delivered=delivered, achieved=in_window / (window_end - window_start),
        p50_s=percentile(latencies, 0.50), p95_s=percentile(latencies, 0.95),
        p99_s=percentile(latencies, 0.99), max_s=max(latencies, default=float("nan")),
        cpu_per_referral=system / delivered if delivered else float("nan"),
        cpu_by_group={k: round(v / delivered, 5) if delivered else float("nan") for k, v in cpu_used.items()},
        generator_late_s=load.late_s, error_kinds=dict(load.error_kinds),
    )  # fmt: skip
    result.kept_up = (
        load.errors == 0
        and delivered == len(load.sent)
        and result.achieved >= KEEP_UP_SHARE * load.rate
        and result.p95_s < KEEP_UP_P95_S
    )
    return result


async def run_steps(stack: Stack, rates: list[float], step_s: float, drain_s: float) -> list[StepResult]:
    """Warm up, then one step per rate until a step does not keep up."""
    arrivals = Arrivals(stack.sink_http)
    poller = asyncio.create_task(arrivals.run())
    client = RawHttpClient(stack.services.url("intake", "/v1/referrals"))
    results: list[StepResult] = []
    try:
        warm = await run_step(client, WARMUP_RATE, WARMUP_S, seed=1)
        missing = await arrivals.wait_for(set(warm.accepted()), timeout_s=120)
        if missing or warm.errors:
            raise RuntimeError(f"warm-up failed: {len(missing)} undelivered, {warm.errors} errors")
        for i, rate in enumerate(rates):
            before = cpu.snapshot(stack.cpu_groups(), alone=HARNESS)
            load = await run_step(client, rate, step_s, seed=100 + i)
            await arrivals.wait_for(set(load.accepted()), timeout_s=drain_s)
            used = cpu.used(before, cpu.snapshot(stack.cpu_groups(), alone=HARNESS))
            result = summarise(load, arrivals, used, warm_s=min(5.0, step_s / 4))
            results.append(result)
            print(_progress(result), flush=True)
            if not result.kept_up:
                break
    finally:
        poller.cancel()
        await client.close()
    if arrivals.extra:
        raise RuntimeError(f"{arrivals.extra} referrals got more than one email")
    return results


def _progress(r: StepResult) -> str:
    return (
        f"offered {r.offered:.0f}/s: achieved {r.achieved:.1f}/s, delivered {r.delivered}/{r.sent},"
        f" p50 {r.p50_s * 1000:.0f} ms, p95 {r.p95_s * 1000:.0f} ms, p99 {r.p99_s * 1000:.0f} ms,"
        f" CPU {r.cpu_per_referral * 1000:.1f} ms/referral, kept up: {r.kept_up}"
        + (f", errors {r.error_kinds}" if r.error_kinds else "")
    )


async def payload_sizes(database_url: str) -> dict[str, float]:
    """The average sizes of what intake stored, so the baselines move the same bytes."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT avg(octet_length(payload)) AS payload, avg(octet_length(key)) AS key"
            " FROM intake.outbox WHERE topic = $1",
            TOPIC_RECEIVED,
        )
    finally:
        await conn.close()
    assert row is not None and row["payload"] is not None
    return {"payload": float(row["payload"]), "key": float(row["key"])}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """Run everything; return the results as one JSON-able dict."""
    began = time.time()
    with (
        tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp,
        started_stack(Path(tmp), args.flavour) as stack,
    ):
        steps = await run_steps(stack, args.rates, args.step_s, args.drain_s)
        sizes = await payload_sizes(stack.database_url)
        versions = await report.versions(stack.database_url, stack.flavour)
        stack.services.stop_all()
        base = await baselines.run_all(stack.database_url, stack.bootstrap, stack.flavour, sizes)
        if args.keep_logs is not None:
            shutil.copytree(Path(tmp) / "logs", args.keep_logs, dirs_exist_ok=True)
    return {
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
        "flavour": args.flavour,
        "step_s": args.step_s,
        "rates": args.rates,
        "wall_s": round(time.time() - began, 1),
        "machine": report.machine(),
        "versions": versions,
        "sizes": sizes,
        "steps": [asdict(s) for s in steps],
        "baselines": base,
    }


def main() -> None:
    """Command line: run, print, write the JSON results and (optionally) the report."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--report", type=Path, help="write the end-to-end sections of this Markdown file")
    parser.add_argument("--json", type=Path, help="raw results (default: by flavour, see bench/report.py)")
    parser.add_argument(
        "--rates", type=lambda s: [float(x) for x in s.split(",")], default=list(DEFAULT_RATES)
    )
    parser.add_argument("--step-s", type=float, default=30.0, help="seconds of load per step")
    parser.add_argument("--drain-s", type=float, default=30.0, help="longest wait for a step's emails")
    parser.add_argument("--keep-logs", type=Path, help="copy the services' logs here at the end")
    parser.add_argument(
        "--flavour", choices=("tansu", "apache"), default=os.environ.get("TEST_KAFKA") or "tansu"
    )
    args = parser.parse_args()
    results = uvloop.run(main_async(args))  # the load generator shares the two cores
    args.json = args.json or REPO / report.json_path(args.flavour)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1), "utf-8")
    print(f"results: {args.json}")
    if args.report is not None:
        report.write(args.report, results)
        print(f"report: {args.report}")
    best = report.sustained(results)
    print(f"sustained: {best['achieved'] if best else 0.0:.1f} referrals/s")


if __name__ == "__main__":
    main()
