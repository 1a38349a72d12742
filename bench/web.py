"""Web app benchmark (issue 20): the team board and "my referrals" with 50,000 referrals stored.

Run: `python -m bench.web --report docs/PERFORMANCE.md` (`make bench-web`).

Starts its own Postgres (fsync on) and broker, and assignment as a separate process with
deploy/config/unit.example.yaml. Seeds N referrals through assignment's own use case and Postgres
adapters (`assign_referrals`, in batches as the consumer hands them over), received over the last
three years; all but the newest `--open` are then closed (status and closed_at, as closing does;
the load trigger keeps `caseworker_loads` right), since a unit's history is mostly closed cases.

The web app runs in this process with its real HTTP adapter against the assignment process, so
every page is a session lookup, the upstream calls over keep-alive HTTP (the team board: the
workload and the team's queue, concurrently; my referrals: the caller's queue), the view models
and the template. Intake is not called by these two pages. The server time of a request is the
wall-clock time around the web app's handling of it (ASGI in-process, no socket to the browser).
Requests are one at a time, as a user clicking.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench import report
from referral_router.devinfra.postgres import LocalPostgres
from referral_router.devinfra.procs import free_port
from referral_router.devinfra.tansu import LocalTansu
from referral_router.stack import REPO, ServiceConfig, ServiceProcesses
from referral_router.tokens import dev_token
from services.web.adapters.memory import MemorySessionStore
from services.web.domain.model import User
from services.web.main import OidcSettings, SessionSettings, UpstreamSettings, WebSettings, create_app
from services.web.ports import Session
from services.web.security import COOKIE
from tests.assignment_support import assign_batch, migrated_pool, received
from tests.e2e.conftest import free_ports

SECRETS = {"key_id": "bench-1", "key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "pepper": "bench"}
HEADING = "## Web app pages (issue 20)"
BATCH = 500
PAGES = {"/team": ("mgr-a", ["manager"]), "/referrals": ("cw-a1", ["caseworker"])}
UPSTREAM = {  # the assignment calls those pages make, measured alone for comparison
    "/v1/workload": ("mgr-a", ["manager"], {}),
    "/v1/referrals?open=true (manager)": ("mgr-a", ["manager"], {"open": "true", "limit": "200"}),
    "/v1/referrals?assignee=me&open=true": (
        "cw-a1",
        ["caseworker"],
        {"assignee": "me", "open": "true", "limit": "200"},
    ),
}


@contextmanager
def started_assignment(root: Path) -> Iterator[tuple[str, ServiceProcesses]]:
    """Postgres, broker and assignment (a separate process) on free ports; all stopped on exit."""
    pg = LocalPostgres(root / "pg", free_port(), fsync=True)
    broker = LocalTansu(free_port(), root / "tansu.log")
    services: ServiceProcesses | None = None
    try:
        database_url = pg.start()
        bootstrap = broker.start()
        config = ServiceConfig(
            database_url=database_url, bootstrap=bootstrap, flavour="tansu", ports=free_ports(),
            secrets=SECRETS, topic_prefix="bench.",
        )  # fmt: skip
        services = ServiceProcesses(config, root / "logs")
        services.start("assignment")
        yield database_url, services
    finally:
        if services is not None:
            services.stop_all()
        broker.stop()
        pg.stop("fast")


async def seed(database_url: str, count: int, still_open: int) -> dict[str, Any]:
    """`count` referrals assigned through assignment's use case; all but the newest closed."""
    started = time.perf_counter()
    pool = await migrated_pool(database_url)
    try:
        now = datetime.now(UTC)
        span = timedelta(days=3 * 365)
        for first in range(0, count, BATCH):
            batch = [
                received(f"BENCH-{n:06d}", at=now - span + span * n / count)
                for n in range(first, min(count, first + BATCH))
            ]
            await assign_batch(pool, batch)
        async with pool.acquire() as conn:
            await conn.execute(
                "UPDATE assignments SET status = 'closed', closed_at = now() WHERE referral_id < $1",
                f"BENCH-{count - still_open:06d}",
            )
            await conn.execute("VACUUM ANALYZE")
            sizes = {
                "assignments": int(await conn.fetchval("SELECT count(*) FROM assignments")),
                "open": int(await conn.fetchval("SELECT count(*) FROM assignments WHERE status <> 'closed'")),
            }
    finally:
        await pool.close()
    return {"seconds": time.perf_counter() - started, **sizes}


def web_app(assignment_url: str) -> tuple[Any, MemorySessionStore]:
    """The web app with its real HTTP adapter, and its session store (seeded by the caller)."""
    settings = WebSettings(
        oidc=OidcSettings(issuer="http://127.0.0.1:1", client_id="bench", client_secret="s"),
        session=SessionSettings(https_only=False),
        upstream=UpstreamSettings(assignment_url=assignment_url, intake_url="http://127.0.0.1:1"),
    )
    sessions = MemorySessionStore()
    return create_app(settings, sessions=sessions), sessions


def signed_in(sessions: MemorySessionStore, staff_id: str, roles: list[str]) -> str:
    """A session for `staff_id` holding a dev token the assignment process accepts."""
    session = Session(
        session_id=secrets.token_urlsafe(16),
        csrf_token=secrets.token_urlsafe(16),
        last_seen=datetime.now(UTC),
        user=User(staff_id, frozenset(roles)),
        token=dev_token(staff_id, roles),
    )
    sessions.sessions[session.session_id] = session
    return session.session_id


async def measure(assignment_url: str, requests: int) -> list[dict[str, Any]]:
    """Per page: `requests` one-at-a-time requests after a warm-up of 20; server time each."""
    app, sessions = web_app(assignment_url)
    steps = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        for path, (staff_id, roles) in PAGES.items():
            cookie = {COOKIE: signed_in(sessions, staff_id, roles)}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://web", cookies=cookie
            ) as client:
                times, cpu, statuses, rows = [], [], [], 0
                for n in range(20 + requests):
                    started, cpu_started = time.perf_counter(), time.process_time()
                    response = await client.get(path)
                    elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu_started
                    if n >= 20:
                        times.append(elapsed * 1000)
                        cpu.append(cpu_used * 1000)
                        statuses.append(response.status_code)
                        rows = response.text.count("<tr") - 1
            step = _step(path, staff_id, times, statuses, rows)
            step["cpu_p50_ms"], step["cpu_p95_ms"] = statistics.median(cpu), _pct(sorted(cpu), 95)
            steps.append(step)
    async with httpx.AsyncClient(base_url=assignment_url) as client:
        for name, (staff_id, roles, params) in UPSTREAM.items():
            headers = {"Authorization": f"Bearer {dev_token(staff_id, roles)}"}
            times, statuses = [], []
            for n in range(20 + requests):
                started = time.perf_counter()
                response = await client.get(name.split("?")[0], params=params, headers=headers)
                if n >= 20:
                    times.append((time.perf_counter() - started) * 1000)
                    statuses.append(response.status_code)
            steps.append(_step(name, staff_id, times, statuses, -1))
    return steps


def _step(path: str, staff_id: str, times: list[float], statuses: list[int], rows: int) -> dict[str, Any]:
    ordered = sorted(times)
    return {
        "page": path,
        "as": staff_id,
        "requests": len(times),
        "table_rows": rows,
        "p50_ms": statistics.median(ordered),
        "p95_ms": _pct(ordered, 95),
        "p99_ms": _pct(ordered, 99),
        "max_ms": ordered[-1],
        "not_200": sum(1 for s in statuses if s != 200),
    }


def _pct(sorted_values: list[float], pct: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


async def run(count: int, still_open: int, requests: int) -> dict[str, Any]:
    """Seed, then measure both pages."""
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp, started_assignment(Path(tmp)) as started:
        database_url, services = started
        seeded = await seed(database_url, count, still_open)
        steps = await measure(services.url("assignment"), requests)
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": report.machine(),
        "referrals": count,
        "seeded": seeded,
        "load_average": " / ".join(f"{v:.1f}" for v in os.getloadavg()),
        "steps": steps,
    }


def section(results: dict[str, Any]) -> str:
    """The PERFORMANCE.md section of this benchmark."""
    rows = "\n".join(
        f"| `{s['page']}` | {s['as']} | {_rows(s)} | {s['requests']} | {s['p50_ms']:.1f} | "
        f"{s['p95_ms']:.1f} | {s['p99_ms']:.1f} | {s['max_ms']:.1f} | {s['not_200']} |"
        for s in results["steps"]
    )
    cpu = "; ".join(
        f"`{s['page']}` {s['cpu_p50_ms']:.1f} ms (p95 {s['cpu_p95_ms']:.1f})"
        for s in results["steps"]
        if "cpu_p50_ms" in s
    )
    seeded = results["seeded"]
    worst = max(s["p95_ms"] for s in results["steps"] if s["page"] in PAGES)
    verdict = "under" if worst < 100 else "**over**"
    return f"""{HEADING}

`make bench-web` ({results["at"]}, {results["machine"]["cores"]} cores): assignment as its own
process with **{seeded["assignments"]:,} referrals** stored (seeded through assignment's own use
case in {seeded["seconds"]:.0f} s; {seeded["open"]:,} still open, the rest closed), Postgres with
fsync on. The web app runs in the benchmark's process with its real HTTP adapter; the server time
is the time the web app takes for a request, the upstream calls to assignment included. One
request at a time, after 20 not counted. The last rows are the assignment calls behind those
pages, made alone over HTTP (time at the client), to show how much of a page is upstream.

| Page | As | Table rows | Requests | p50 ms | p95 ms | p99 ms | max ms | Not 200 |
|---|---|---|---|---|---|---|---|---|
{rows}

CPU time of the web app's process per page (its own work: session, JSON of the upstream answers,
view models, template; median and p95): {cpu}. Load average on the machine when measured:
{results["load_average"]} (other work shares its {results["machine"]["cores"]} cores), which is
what makes the tails wide.

The target is p95 under 100 ms with 50,000 referrals stored: the worst p95 here, {worst:.1f} ms,
is {verdict} it. Assignment's queue reads only open referrals (the partial index
`assignments_open_by_team`), so the closed history does not show in these times; the open ones do.
"""


def _rows(step: dict[str, Any]) -> str:
    return str(step["table_rows"]) if step["table_rows"] >= 0 else "–"


def write_report(path: Path, results: dict[str, Any]) -> None:
    """Replace this benchmark's section of the document, keeping every other section."""
    text = path.read_text("utf-8") if path.exists() else "# Performance\n"
    text = report._remove_section(text, HEADING)
    path.write_text(text.rstrip("\n") + "\n\n" + section(results), "utf-8")


def main() -> None:
    """Parse arguments, run, write the JSON and the report section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--referrals", type=int, default=50_000)
    parser.add_argument("--open", type=int, default=600, help="the newest referrals left open")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--report", type=Path, help="the Markdown document to put the section in")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "web-latest.json")
    args = parser.parse_args()
    results = asyncio.run(run(args.referrals, args.open, args.requests))
    args.json.write_text(json.dumps(results, indent=2) + "\n", "utf-8")
    print(section(results))
    if args.report is not None:
        write_report(args.report, results)
    sys.exit(1 if any(s["not_200"] for s in results["steps"]) else 0)


if __name__ == "__main__":
    main()
