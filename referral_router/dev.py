"""`referral-router dev`: the whole system on this machine, as separate processes.

Before anything starts it checks what would make the start fail half-way (a port in use, Java
or Maven missing for Apache Kafka) and says exactly what to change. Each part then starts with
a status line and its time; a part that dies while starting is reported with the end of its log.
After start-up the portal simulator submits referrals and the live view shows what happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO, TypeVar

import asyncpg
import httpx
import yaml

from referral_router.devinfra.postgres import LocalPostgres
from referral_router.devinfra.procs import (
    is_alive,
    log_tail,
    port_holder,
    port_in_use,
    spawn,
    stop_process,
    wait_for_http,
)
from referral_router.devinfra.tansu import LocalTansu
from referral_router.live_data import Gatherer
from referral_router.live_view import show
from referral_router.portal_simulator import DEFAULT_BACKDATE, SimClock, SimulatorStats, simulate
from referral_router.stack import (
    DEV_JWT_SECRET,
    DEV_PORTAL_CLIENT,
    DEV_PORTAL_SECRET,
    DEV_WEB_CLIENT_ID,
    DEV_WEB_CLIENT_SECRET,
    KAFKA_SCRIPT,
    REPO,
    SERVICES,
    ApacheKafka,
    Ports,
    ServiceConfig,
    ServiceProcesses,
    dev_issuer,
    dev_secrets,
)
from referral_router.tokens import dev_token

DEV_DATABASE = "referral_router"
UNIT_CONFIG = REPO / "deploy" / "config" / "unit.example.yaml"
T = TypeVar("T")

PART_NAMES = {
    "kafka": "Kafka (Tansu)",
    "postgres": "Postgres (embedded)",
    "intake": "intake HTTP",
    "assignment": "assignment HTTP (staff API)",
    "notifications": "notifications HTTP",
    "metrics": "metrics HTTP",
    "smtp": "SMTP sink",
    "smtp_http": "SMTP sink's mail listing (HTTP)",
    "teams": "Teams webhook sink",
    "web": "web app (staff pages)",
    "oidc": "dev sign-in (OpenID provider)",
}


class StartError(Exception):
    """The dev stack cannot start; the message says what to do about it."""


@dataclass(frozen=True)
class DevOptions:
    """What `referral-router dev` was asked to do."""

    kafka: str = "tansu"
    rate: float | None = 0.2  # submissions per second; None = no simulator
    accelerate: float = 1.0
    backdate: timedelta = DEFAULT_BACKDATE
    seed: int | None = None
    plain: bool = False  # log lines even on a terminal
    screenshot: Path | None = None
    screenshot_after_s: float = 30.0


def ports_from_env() -> Ports:
    """Dev ports, each overridable as DEV_<PART>_PORT (e.g. DEV_KAFKA_PORT=29092)."""
    defaults = Ports()
    values = {
        name: int(os.environ.get(f"DEV_{name.upper()}_PORT", getattr(defaults, name)))
        for name in Ports.__dataclass_fields__
    }
    return Ports(**values)


def port_variable(part: str) -> str:
    """The environment variable that moves a part to another port."""
    return f"DEV_{part.upper()}_PORT"


def parts_to_bind(kafka: str, env: dict[str, str] | None = None) -> list[str]:
    """The ports the dev stack will listen on (not those of an external database or broker)."""
    env = dict(os.environ) if env is None else env
    parts = list(PART_NAMES)
    if env.get("DATABASE__URL"):
        parts.remove("postgres")
    if kafka == "apache" or env.get("KAFKA__BOOTSTRAP_SERVERS"):
        parts.remove("kafka")  # Apache Kafka picks free ports itself (deploy/kafka/kafka.sh)
    return parts


def port_problems(ports: Ports, parts: list[str]) -> list[str]:
    """One clear sentence per port already taken, naming the part and the variable to change."""
    problems = []
    taken: dict[int, str] = {}
    for part in parts:
        port: int = getattr(ports, part)
        if port in taken:
            problems.append(
                f"{PART_NAMES[part]} and {PART_NAMES[taken[port]]} are both set to port {port}: "
                f"give one another port with {port_variable(part)}=<port>"
            )
            continue
        taken[port] = part
        if port_in_use(port):
            holder = port_holder(port)
            by = f" by {holder}" if holder else ""
            problems.append(
                f"port {port} for the {PART_NAMES[part]} is already in use{by}. Stop that program, "
                f"or choose another port: {port_variable(part)}={_suggest(port)} make run"
            )
    return problems


def _suggest(port: int) -> int:
    for candidate in (port + 10_000, port + 20_000, port + 1):
        if candidate < 65_536 and not port_in_use(candidate):
            return candidate
    return port + 1


def kafka_version() -> str:
    """The Apache Kafka version deploy/kafka/kafka.sh fetches."""
    found = re.search(r"^KAFKA_VERSION=(\S+)", KAFKA_SCRIPT.read_text("utf-8"), re.MULTILINE)
    return found.group(1) if found else "unknown"


def java_problems(env: dict[str, str] | None = None) -> list[str]:
    """What is missing to run Apache Kafka: Java 17+ always, Maven until the jars are fetched."""
    env = dict(os.environ) if env is None else env
    path = env.get("PATH", os.defpath)
    problems = []
    java = shutil.which(env.get("JAVA", "java"), path=path)
    if java is None:
        problems.append(
            "--kafka apache (KAFKA=apache) needs Java 17 or newer, and `java` is not on the PATH: "
            "install it (e.g. apt-get install openjdk-17-jre-headless) or use the default Tansu broker"
        )
    else:
        major = _java_major(java)
        if major is not None and major < 17:
            problems.append(f"--kafka apache needs Java 17 or newer; {java} is Java {major}")
    cache = Path(
        env.get("KAFKA_CACHE", Path.home() / ".cache" / "referral-router" / "kafka" / kafka_version())
    )
    if not (cache / "jars" / ".fetched").exists() and shutil.which(env.get("MVN", "mvn"), path=path) is None:
        problems.append(
            "--kafka apache (KAFKA=apache) needs Maven once, to fetch the Kafka jars from Maven "
            f"Central into {cache}, and `mvn` is not on the PATH: install it (e.g. apt-get install maven)"
        )
    return problems


def _java_major(java: str) -> int | None:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major  # "1.8" is Java 8


def preflight(ports: Ports, kafka: str) -> list[str]:
    """Everything that would make the start fail, found before anything is started."""
    problems = port_problems(ports, parts_to_bind(kafka))
    if kafka == "apache" and not os.environ.get("KAFKA__BOOTSTRAP_SERVERS"):
        problems += java_problems()
    return problems


class DevStack:
    """Starts infrastructure and services; `stop` ends exactly what it started."""

    def __init__(
        self,
        state: Path,
        ports: Ports,
        kafka: str,
        service_env: dict[str, str] | None = None,
        unit_config: Path = UNIT_CONFIG,
    ) -> None:
        self.state = state
        self.service_env = service_env or {}
        self.unit_config = unit_config
        self.ports = ports
        self.kafka = kafka
        self.logs = state / "logs"
        self._stoppers: list[tuple[str, object]] = []
        self.services: ServiceProcesses | None = None

    def start(self) -> None:
        """Bring everything up in dependency order, reporting each step and its time.

        Postgres, the broker and the two sinks do not depend on each other, so they start
        side by side; the services need the first two.
        """
        self.logs.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=4) as pool:
            postgres = pool.submit(self._step, "postgres", self._postgres)
            kafka = pool.submit(self._step, f"kafka ({self.kafka})", self._kafka)
            sinks = [
                pool.submit(self._step, "smtp sink", self._smtp_sink),
                pool.submit(self._step, "teams sink", self._teams_sink),
                pool.submit(self._step, "dev sign-in (OpenID provider)", self._oidc_provider),
            ]
            database_url, bootstrap = postgres.result(), kafka.result()
            for sink in sinks:
                sink.result()
        config = ServiceConfig(
            database_url=database_url,
            bootstrap=bootstrap,
            flavour="apache" if self.kafka == "apache" else "tansu",
            # With an external broker (KAFKA__BOOTSTRAP_SERVERS), a prefix keeps its topics apart.
            topic_prefix=os.environ.get("KAFKA__TOPIC_PREFIX", ""),
            ports=self.ports,
            secrets=dev_secrets(self.state),
            extra_env=self.trust_env() | self.service_env,
            unit_config=self.unit_config,
        )
        self.services = ServiceProcesses(config, self.logs)
        self._step("services (" + ", ".join(SERVICES) + ")", self._start_services)
        self._step("web app", self._web_app)

    def _issuer(self) -> str:
        return dev_issuer(self.ports.oidc)

    def web_url(self, path: str = "") -> str:
        """A URL on the web app."""
        return f"http://127.0.0.1:{self.ports.web}{path}"

    def trust_env(self) -> dict[str, str]:
        """The services trust the dev provider's ID tokens (the web app sends them) and the
        dev HS256 tokens, all for the web app's audience; links in emails and Teams cards open
        the referral's page in the web app."""
        return {
            "AUTH__JWKS_URL": f"{self._issuer()}/jwks",
            "AUTH__ISSUER": self._issuer(),
            "AUTH__AUDIENCE": DEV_WEB_CLIENT_ID,
            "LINKS__REFERRAL_URL": self.web_url("/referrals/{referral_id}"),
        }

    def web_env(self) -> dict[str, str]:
        """The web app's settings in the dev stack: the dev provider, plain HTTP on 127.0.0.1."""
        return {
            "HTTP__PORT": str(self.ports.web),
            "OIDC__ISSUER": self._issuer(),
            "OIDC__CLIENT_ID": DEV_WEB_CLIENT_ID,
            "OIDC__CLIENT_SECRET": DEV_WEB_CLIENT_SECRET,
            "OIDC__REDIRECT_URL": self.web_url("/auth/callback"),
            "OIDC__UPSTREAM_TOKEN": "id_token",  # the dev provider's access tokens are opaque
            "SESSION__HTTPS_ONLY": "false",
            "UPSTREAM__INTAKE_URL": f"http://127.0.0.1:{self.ports.intake}",
            "UPSTREAM__ASSIGNMENT_URL": f"http://127.0.0.1:{self.ports.assignment}",
            "UNIT_CONFIG_PATH": str(self.unit_config),
            "PYTHONUNBUFFERED": "1",
        }

    def _oidc_provider(self) -> None:
        argv = [sys.executable, "-m", "services.web.dev_identity", "--port", str(self.ports.oidc)]
        argv += ["--unit-config", str(self.unit_config)]
        self._process("oidc", argv, "/.well-known/openid-configuration", self.ports.oidc)

    def _web_app(self) -> None:
        argv = [sys.executable, "-m", "services.web.main"]
        self._process("web", argv, "/healthz", self.ports.web, env=self.web_env())

    def _step(self, what: str, action: Callable[[], T]) -> T:
        started = time.monotonic()
        print(f"  … starting {what}", flush=True)
        try:
            result = action()
        except Exception:
            print(f"  ✗ {what} failed after {time.monotonic() - started:.1f} s", flush=True)
            raise
        print(f"  ✓ {what} ready in {time.monotonic() - started:.1f} s", flush=True)
        return result

    def _postgres(self) -> str:
        external = os.environ.get("DATABASE__URL")
        if external:
            return external
        server = LocalPostgres(
            self.state / "postgres", self.ports.postgres, log_path=self.logs / "postgres.log"
        )
        self._stoppers.append(("postgres", server))
        try:
            server.start()
        except (RuntimeError, TimeoutError, OSError) as exc:
            raise StartError(f"Postgres did not start: {exc}") from None  # the message holds the log
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
        self._stoppers.append(("kafka", broker))
        try:
            return broker.start()
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or "").strip()[-2000:]
            raise StartError(f"Apache Kafka did not start (deploy/kafka/kafka.sh):\n{detail}") from None
        except (RuntimeError, TimeoutError, OSError) as exc:
            raise StartError(f"Kafka ({self.kafka}) did not start: {exc}") from None

    def _sink(self, name: str, argv: list[str], health_port: int) -> None:
        self._process(name, argv, "/healthz", health_port)

    def _process(
        self, name: str, argv: list[str], health: str, port: int, env: dict[str, str] | None = None
    ) -> None:
        """Start a helper process, stopped with the infrastructure, and wait until it answers."""
        log = self.logs / f"{name}.log"
        proc = spawn(name, argv, log, env=env, cwd=REPO)
        self._stoppers.append((name, proc))
        try:
            wait_for_http(f"http://127.0.0.1:{port}{health}", 30, name=name, proc=proc)
        except (RuntimeError, TimeoutError) as exc:
            raise StartError(_with_log(str(exc), log)) from None

    def _smtp_sink(self) -> None:
        p = self.ports
        module = "referral_router.devinfra.smtp_sink"
        argv = [sys.executable, "-m", module, "--smtp-port", str(p.smtp), "--http-port", str(p.smtp_http)]
        self._sink("smtp-sink", argv, p.smtp_http)

    def _teams_sink(self) -> None:
        argv = [sys.executable, "-m", "referral_router.devinfra.teams_sink", "--port", str(self.ports.teams)]
        self._sink("teams-sink", argv, self.ports.teams)

    def _start_services(self, timeout_s: float = 120.0) -> None:
        """Start the four services side by side; stop waiting at once if one of them exits."""
        services = self.services
        assert services is not None
        for service in SERVICES:
            services.start(service, wait=False)
        waiting = set(SERVICES)
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            while waiting and time.monotonic() < deadline:
                for service in sorted(waiting):
                    if not is_alive(services.pid(service)):
                        log = self.logs / f"{service}.log"
                        raise StartError(_with_log(f"the {service} service exited while starting", log))
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(services.url(service, "/readyz")).status_code == 200:
                            waiting.discard(service)
                            print(f"    ✓ {service} ready", flush=True)
                time.sleep(0.1)
        if waiting:
            names = ", ".join(sorted(waiting))
            logs = "; ".join(str(self.logs / f"{s}.log") for s in sorted(waiting))
            raise StartError(f"not ready after {timeout_s:.0f} s: {names} (see {logs})")

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
            except (OSError, subprocess.SubprocessError, TimeoutError, RuntimeError) as exc:
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
            f"  {'web app':<14} {self.web_url('/')}  (staff pages; links in mail and cards open here)",
            f"  {'dev sign-in':<14} {self._issuer()}  (OpenID provider for the web app)",
            "",
            "  sign in to the web app: press the button of any staff id of the unit file (mgr-a is",
            "  team A's manager, cw-a1 a caseworker, in-1 intake, head the head of unit); no password.",
            "",
            f"  portal client {DEV_PORTAL_CLIENT} / secret {DEV_PORTAL_SECRET}",
            f"  staff tokens: referral-router token --sub mgr-a --role manager (HS256, {DEV_JWT_SECRET})",
            f"  logs: {self.logs}/<name>.log",
            "",
        ]
        return "\n".join(lines)


SIMULATED_SCAN = timedelta(hours=1)
"""With --accelerate, the deadline and escalation scans run at least once per simulated hour:
at 5000x the example's 30 s would be 42 simulated hours, longer than the day a handover scan
looks back, so handover cards would be skipped."""


def unit_file_for(accelerate: float, state: Path, source: Path = UNIT_CONFIG) -> Path:
    """The example unit file; with --accelerate a copy under `state` whose scans keep pace with
    simulated time (never more often than every half second of real time)."""
    if accelerate <= 1:
        return source
    raw = yaml.safe_load(source.read_text("utf-8"))
    interval = max(0.5, SIMULATED_SCAN.total_seconds() / accelerate)
    deadlines = raw.setdefault("deadlines", {})
    deadlines["scan_interval_s"] = min(float(deadlines.get("scan_interval_s", 30.0)), interval)
    escalation = raw.setdefault("notifications", {}).setdefault("escalation", {})
    escalation["scan_interval_s"] = min(float(escalation.get("scan_interval_s", 15.0)), interval)
    state.mkdir(parents=True, exist_ok=True)
    path = state / "unit.accelerated.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def _with_log(message: str, log: Path) -> str:
    tail = log_tail(log, 2500).strip()
    if not tail:
        return f"{message} (no log at {log})"
    lines = tail.splitlines()[-25:]
    return f"{message}\n--- last lines of {log} ---\n" + "\n".join(lines)


async def _ensure_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _run_view(ports: Ports, options: DevOptions, clock: SimClock, terminal: bool) -> None:
    """The simulator (if asked for) and the live view, until cancelled or the screenshot is taken."""
    stats = SimulatorStats(clock=clock)
    tasks: list[asyncio.Task[int]] = []
    if options.rate:
        intake = f"http://127.0.0.1:{ports.intake}"
        tasks.append(asyncio.create_task(simulate(intake, options.rate, seed=options.seed, stats=stats)))
    # Outlives any dev session; the services check the dev provider's issuer and audience.
    token = dev_token("head", ["head_of_unit"], ttl_s=366 * 86_400, issuer=dev_issuer(ports.oidc))
    gatherer = Gatherer(ports, token, UNIT_CONFIG, stats if options.rate else None)
    try:
        async with httpx.AsyncClient(timeout=3, trust_env=False) as client:
            await show(
                lambda: gatherer.gather(client),
                terminal=terminal,
                screenshot=options.screenshot,
                screenshot_after_s=options.screenshot_after_s,
            )
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


class _ReaderSafeStream:
    """stdout or stderr that survives its reader going away (`make run | tee run.log`, Ctrl-C).

    Ctrl-C reaches `tee` or `cat` too, so the next write fails with EPIPE. Without this the
    launcher would die on that write, before it stops what it started. After the first EPIPE
    the file descriptor is pointed at /dev/null, so later writes (and the interpreter's last
    flush) go nowhere instead of failing.
    """

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        try:
            return self._inner.write(text)
        except BrokenPipeError:
            self._to_devnull()
            return len(text)

    def flush(self) -> None:
        try:
            self._inner.flush()
        except BrokenPipeError:
            self._to_devnull()

    def _to_devnull(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._inner.fileno())
        os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _guard_output_and_signals() -> None:
    """Install before anything starts: a vanished reader and SIGTERM, SIGHUP or SIGINT all lead
    to the clean stop, never to an exit that leaves the stack running."""
    if not isinstance(sys.stdout, _ReaderSafeStream):
        sys.stdout = _ReaderSafeStream(sys.stdout)
    if not isinstance(sys.stderr, _ReaderSafeStream):
        sys.stderr = _ReaderSafeStream(sys.stderr)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)  # the terminal was closed
    # Started in the background by a shell without job control, SIGINT is ignored for its
    # children: Ctrl-C (or `kill -INT`) must still stop everything.
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _stop_uninterrupted(stack: DevStack) -> None:
    """Stop the stack; a second Ctrl-C (or `make`'s SIGTERM) must not cut the clean-up short."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    stack.stop()


def run_dev(options: DevOptions) -> int:
    """Run the dev stack until Ctrl-C, SIGTERM or SIGHUP; always stop what was started."""
    _guard_output_and_signals()
    state = Path(os.environ.get("DEV_STATE_DIR", REPO / ".dev"))
    ports = ports_from_env()
    problems = preflight(ports, options.kafka)
    if problems:
        print("the dev stack cannot start; nothing was started:", file=sys.stderr)
        for problem in problems:
            print(f"  ✗ {problem}", file=sys.stderr)
        return 2
    # One simulated clock for the simulator and the services: with --accelerate, assignment's
    # deadline scan and handovers and notifications' office hours follow it (DEV_CLOCK__*).
    clock = SimClock(options.accelerate, options.backdate)
    unit_file = unit_file_for(options.accelerate, state)
    stack = DevStack(state, ports, options.kafka, clock.dev_clock_env(), unit_file)
    started = time.monotonic()
    code = 0
    try:
        print("starting the dev stack (Ctrl-C stops everything):", flush=True)
        stack.start()
        print(stack.banner(), flush=True)
        print(f"started in {time.monotonic() - started:.1f} s", flush=True)
        terminal = sys.stdout.isatty() and not options.plain
        asyncio.run(_run_view(stack.ports, options, clock, terminal))
        print("\nstopping …", flush=True)
    except KeyboardInterrupt:
        print("\nstopping …", flush=True)
    except (StartError, TimeoutError, RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"\nthe dev stack could not start: {exc}", file=sys.stderr, flush=True)
        print("stopping what was started …", file=sys.stderr, flush=True)
        code = 1
    finally:
        _stop_uninterrupted(stack)
    print("stopped.", flush=True)
    return code
