"""`referral-router dev`: the whole system on this machine, as separate processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import asyncpg
import httpx

from referral_router.devinfra.postgres import LocalPostgres
from referral_router.devinfra.procs import spawn, stop_process, wait_for_http
from referral_router.devinfra.tansu import LocalTansu
from referral_router.simulator import simulate
from referral_router.stack import (
    DEV_JWT_SECRET,
    DEV_PORTAL_CLIENT,
    DEV_PORTAL_SECRET,
    REPO,
    SERVICES,
    ApacheKafka,
    Ports,
    ServiceConfig,
    ServiceProcesses,
    dev_secrets,
)

DEV_DATABASE = "referral_router"
T = TypeVar("T")


def ports_from_env() -> Ports:
    """Dev ports, each overridable as DEV_<PART>_PORT (e.g. DEV_KAFKA_PORT=29092)."""
    defaults = Ports()
    values = {
        name: int(os.environ.get(f"DEV_{name.upper()}_PORT", getattr(defaults, name)))
        for name in Ports.__dataclass_fields__
    }
    return Ports(**values)


class DevStack:
    """Starts infrastructure and services; `stop` ends exactly what it started."""

    def __init__(self, state: Path, ports: Ports, kafka: str) -> None:
        self.state = state
        self.ports = ports
        self.kafka = kafka
        self.logs = state / "logs"
        self._stoppers: list[tuple[str, object]] = []
        self.services: ServiceProcesses | None = None

    def start(self) -> None:
        """Bring everything up in dependency order, reporting each step and its time."""
        self.logs.mkdir(parents=True, exist_ok=True)
        database_url = self._step("postgres", self._postgres)
        bootstrap = self._step(f"kafka ({self.kafka})", self._kafka)
        self._step("smtp sink", self._smtp_sink)
        self._step("teams sink", self._teams_sink)
        config = ServiceConfig(
            database_url=database_url,
            bootstrap=bootstrap,
            flavour="apache" if self.kafka == "apache" else "tansu",
            ports=self.ports,
            secrets=dev_secrets(self.state),
        )
        self.services = ServiceProcesses(config, self.logs)
        self._step("services", self.services.start_all)

    def _step(self, what: str, action: Callable[[], T]) -> T:
        started = time.monotonic()
        print(f"  starting {what} …", flush=True)
        result = action()
        print(f"  ✓ {what} ready in {time.monotonic() - started:.1f} s", flush=True)
        return result

    def _postgres(self) -> str:
        external = os.environ.get("DATABASE__URL")
        if external:
            return external
        server = LocalPostgres(
            self.state / "postgres", self.ports.postgres, log_path=self.logs / "postgres.log"
        )
        server.start()
        self._stoppers.append(("postgres", server))
        asyncio.run(_ensure_database(server.url(), DEV_DATABASE))
        return server.url(DEV_DATABASE)

    def _kafka(self) -> str:
        external = os.environ.get("KAFKA__BOOTSTRAP_SERVERS")
        if external:
            return external
        broker: LocalTansu | ApacheKafka
        if self.kafka == "apache":
            broker = ApacheKafka(self.state / "kafka")
        else:
            broker = LocalTansu(self.ports.kafka, self.logs / "tansu.log")
        bootstrap = broker.start()
        self._stoppers.append(("kafka", broker))
        return bootstrap

    def _smtp_sink(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "referral_router.devinfra.smtp_sink",
            "--smtp-port",
            str(self.ports.smtp),
            "--http-port",
            str(self.ports.smtp_http),
        ]
        proc = spawn("smtp-sink", argv, self.logs / "smtp-sink.log", cwd=REPO)
        self._stoppers.append(("smtp-sink", proc))
        wait_for_http(f"http://127.0.0.1:{self.ports.smtp_http}/healthz", 20)

    def _teams_sink(self) -> None:
        argv = [sys.executable, "-m", "referral_router.devinfra.teams_sink", "--port", str(self.ports.teams)]
        proc = spawn("teams-sink", argv, self.logs / "teams-sink.log", cwd=REPO)
        self._stoppers.append(("teams-sink", proc))
        wait_for_http(f"http://127.0.0.1:{self.ports.teams}/healthz", 20)

    def stop(self) -> None:
        """Stop services first, then infrastructure, in reverse order of starting."""
        if self.services is not None:
            self.services.stop_all()
        for name, handle in reversed(self._stoppers):
            try:
                if isinstance(handle, subprocess.Popen):
                    stop_process(handle, timeout_s=10)
                else:
                    handle.stop()  # type: ignore[attr-defined]
            except (OSError, subprocess.SubprocessError, TimeoutError) as exc:
                print(f"  ! could not stop {name} cleanly: {exc}", file=sys.stderr)
        self._stoppers.clear()

    def banner(self) -> str:
        """What a developer needs to know to use the stack."""
        p = self.ports
        lines = ["", "referral-router dev stack is running (Ctrl-C stops everything):", ""]
        lines += [f"  {s:<14} http://127.0.0.1:{p.http(s)}  (/healthz /readyz /metrics)" for s in SERVICES]
        lines += [
            f"  {'kafka':<14} 127.0.0.1:{p.kafka}" if self.kafka != "apache" else "  kafka          apache",
            f"  {'postgres':<14} postgresql://postgres@127.0.0.1:{p.postgres}/{DEV_DATABASE}",
            f"  {'smtp sink':<14} smtp://127.0.0.1:{p.smtp}  mail: http://127.0.0.1:{p.smtp_http}/messages",
            f"  {'teams sink':<14} http://127.0.0.1:{p.teams}/webhook/{{team}}  cards: "
            f"http://127.0.0.1:{p.teams}/messages",
            "",
            f"  portal client {DEV_PORTAL_CLIENT} / secret {DEV_PORTAL_SECRET}",
            f"  staff tokens: referral-router token --sub mgr-a --role manager (HS256, {DEV_JWT_SECRET})",
            f"  logs: {self.logs}/<name>.log",
            "",
        ]
        return "\n".join(lines)


async def _ensure_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _summary_loop(ports: Ports, simulator_rate: float | None) -> None:
    tasks = []
    if simulator_rate:
        tasks.append(asyncio.create_task(simulate(f"http://127.0.0.1:{ports.intake}", simulator_rate)))
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            while True:
                print(await _summary(client, ports), flush=True)
                await asyncio.sleep(5)
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _summary(client: httpx.AsyncClient, ports: Ports) -> str:
    try:
        metrics = (await client.get(f"http://127.0.0.1:{ports.metrics}/metrics")).text
        mail = len((await client.get(f"http://127.0.0.1:{ports.smtp_http}/messages")).json())
    except httpx.HTTPError as exc:
        return f"[{time.strftime('%H:%M:%S')}] waiting for services ({type(exc).__name__})"
    received = _sum_metric(metrics, "referrals_received_total")
    assigned = _sum_metric(metrics, "referrals_assigned_total")
    return f"[{time.strftime('%H:%M:%S')}] received {received:.0f}  assigned {assigned:.0f}  emails {mail}"


def _sum_metric(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def run_dev(kafka: str, simulator_rate: float | None) -> int:
    """Run the dev stack until Ctrl-C or SIGTERM; always stop what was started."""
    state = Path(os.environ.get("DEV_STATE_DIR", REPO / ".dev"))
    stack = DevStack(state, ports_from_env(), kafka)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        stack.start()
        print(stack.banner(), flush=True)
        asyncio.run(_summary_loop(stack.ports, simulator_rate))
    except KeyboardInterrupt:
        print("\nstopping …", flush=True)
    except (TimeoutError, RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"\nthe dev stack could not start: {exc}", file=sys.stderr)
        stack.stop()
        return 1
    stack.stop()
    print("stopped.", flush=True)
    return 0
