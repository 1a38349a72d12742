"""The dev stack: infrastructure and the four services as separate processes.

Used by `referral-router dev` and by the end-to-end and reliability tests, so what a developer
runs is what the tests exercise.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from referral_router.devinfra.procs import spawn, stop_process, wait_for_http

REPO = Path(__file__).resolve().parent.parent
SERVICES = ("intake", "assignment", "notifications", "metrics")
DEV_PORTAL_CLIENT = "dev-portal"
DEV_PORTAL_SECRET = "dev-portal-secret"  # noqa: S105 - documented dev fixture (CONTRACTS.md §1), never production
DEV_JWT_SECRET = "dev-jwt-secret"  # noqa: S105 - documented dev fixture (CONTRACTS.md §1), never production
# The web app's client at the dev OpenID provider; its id is also the audience the services
# accept in the dev stack, for the provider's ID tokens and for `referral-router token`'s.
DEV_WEB_CLIENT_ID = "referral-router-web"
DEV_WEB_CLIENT_SECRET = "dev-web-secret"  # noqa: S105 - dev fixture, never production


def dev_issuer(port: int | None = None) -> str:
    """The dev OpenID provider's issuer (`DEV_OIDC_PORT`, 8090), which the dev stack's services
    check on every token."""
    return f"http://127.0.0.1:{port or int(os.environ.get('DEV_OIDC_PORT', '8090'))}"


KAFKA_SCRIPT = REPO / "deploy" / "kafka" / "kafka.sh"


@dataclass(frozen=True)
class Ports:
    """Where each part listens; the defaults are the documented dev stack ports."""

    kafka: int = 19092
    postgres: int = 15432
    intake: int = 8081
    assignment: int = 8082
    notifications: int = 8083
    metrics: int = 8084
    smtp: int = 1025
    smtp_http: int = 8025
    teams: int = 8026
    web: int = 8085
    oidc: int = 8090

    def http(self, service: str) -> int:
        """The HTTP port of a service."""
        port: int = getattr(self, service)
        return port


def dev_secrets(state_dir: Path) -> dict[str, str]:
    """Encryption key and pepper for the dev stack, made once and kept under `.dev/`."""
    path = state_dir / "secrets.json"
    if path.exists():
        loaded: dict[str, str] = json.loads(path.read_text("utf-8"))
        return loaded
    made = {
        "key_id": "dev-1",
        "key": base64.b64encode(secrets.token_bytes(32)).decode(),
        "pepper": secrets.token_hex(32),
    }
    state_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(made), "utf-8")
    path.chmod(0o600)
    return made


@dataclass
class ServiceConfig:
    """What the four service processes are pointed at."""

    database_url: str
    bootstrap: str
    flavour: str
    ports: Ports
    secrets: Mapping[str, str]
    unit_config: Path = REPO / "deploy" / "config" / "unit.example.yaml"
    topic_prefix: str = ""
    extra_env: Mapping[str, str] = field(default_factory=dict)

    def env(self, service: str) -> dict[str, str]:
        """Environment variables for one service process."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.upper().startswith(("KAFKA", "DATABASE", "TEST_KAFKA"))
        }
        env.update(
            {
                "DATABASE__URL": self.database_url,
                "KAFKA__BOOTSTRAP_SERVERS": self.bootstrap,
                "KAFKA__FLAVOUR": self.flavour,
                "KAFKA__TOPIC_PREFIX": self.topic_prefix,
                "UNIT_CONFIG_PATH": str(self.unit_config),
                "HTTP__PORT": str(self.ports.http(service)),
                "HTTP__API_DOCS": "true",
                "PORTAL__CLIENTS": json.dumps({DEV_PORTAL_CLIENT: [DEV_PORTAL_SECRET]}),
                "CRYPTO__KEYS": json.dumps({self.secrets["key_id"]: self.secrets["key"]}),
                "CRYPTO__CURRENT_KEY": self.secrets["key_id"],
                "CRYPTO__PEPPER": self.secrets["pepper"],
                "SMTP__PORT": str(self.ports.smtp),
                "SMTP__STARTTLS": "false",
                # Intake's feedback to mandatory reporters goes to the same sink.
                "FEEDBACK__SMTP_PORT": str(self.ports.smtp),
                "FEEDBACK__STARTTLS": "false",
                "AUTH__JWT_SECRET": DEV_JWT_SECRET,
                # Intake asks assignment's staff API when its access projection is behind.
                "ASSIGNMENT__URL": f"http://127.0.0.1:{self.ports.assignment}",
                # Assignment's base URL in the calendar subscription links it hands out.
                "PUBLIC_URL": f"http://127.0.0.1:{self.ports.assignment}",
                "PYTHONUNBUFFERED": "1",
                # The example unit file takes its links' base and the Teams webhooks' port from
                # these (`${DEV_ASSIGNMENT_PORT:-8082}`), so moving a port moves them too.
                "DEV_ASSIGNMENT_PORT": str(self.ports.assignment),
                "DEV_TEAMS_PORT": str(self.ports.teams),
            }
        )
        env.update(self.extra_env)
        return env


class ServiceProcesses:
    """Starts, kills and restarts the service processes; each logs to `<log_dir>/<name>.log`."""

    def __init__(self, config: ServiceConfig, log_dir: Path) -> None:
        self.config = config
        self._log_dir = log_dir
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(self, service: str, *, wait: bool = True, timeout_s: float = 60.0) -> None:
        """Start one service process and (by default) wait until its /readyz answers 200."""
        argv = [sys.executable, "-m", f"services.{service}.main"]
        self._procs[service] = spawn(
            service, argv, self._log_dir / f"{service}.log", env=self.config.env(service), cwd=REPO
        )
        if wait:
            self.wait_ready(service, timeout_s)

    def wait_ready(self, service: str, timeout_s: float = 60.0) -> None:
        """Wait until the service reports ready."""
        wait_for_http(self.url(service, "/readyz"), timeout_s)

    def start_all(self, timeout_s: float = 90.0) -> None:
        """Start every service, then wait for all of them."""
        for service in SERVICES:
            self.start(service, wait=False)
        for service in SERVICES:
            self.wait_ready(service, timeout_s)

    def url(self, service: str, path: str = "") -> str:
        """A URL on the service's HTTP server."""
        return f"http://127.0.0.1:{self.config.ports.http(service)}{path}"

    def pid(self, service: str) -> int:
        """The process id of a running service."""
        return self._procs[service].pid

    def kill(self, service: str) -> None:
        """SIGKILL a service, as a crash would."""
        proc = self._procs.pop(service)
        proc.kill()
        proc.wait(timeout=10)

    def stop(self, service: str) -> None:
        """Stop a service gracefully (SIGTERM, then SIGKILL after a timeout)."""
        proc = self._procs.pop(service, None)
        if proc is not None:
            stop_process(proc, timeout_s=15)

    def stop_all(self) -> None:
        """Stop every service this object started."""
        for service in list(self._procs):
            self.stop(service)

    def log(self, service: str) -> str:
        """Everything the service has logged so far."""
        path = self._log_dir / f"{service}.log"
        return path.read_text("utf-8", errors="replace") if path.exists() else ""


class ApacheKafka:
    """A single-node Apache Kafka (KRaft) from Maven Central artifacts, via deploy/kafka/kafka.sh."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    def start(self) -> str:
        """Fetch the jars if needed, start the broker, and return its bootstrap address."""
        subprocess.run(["bash", str(KAFKA_SCRIPT), "fetch"], check=True, stdout=subprocess.DEVNULL)
        out = subprocess.run(
            ["bash", str(KAFKA_SCRIPT), "start", str(self.workdir)],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip().splitlines()[-1]

    def stop(self) -> None:
        """Stop the broker gracefully."""
        subprocess.run(["bash", str(KAFKA_SCRIPT), "stop", str(self.workdir)], check=False)

    def kill(self) -> None:
        """SIGKILL the broker, as a crash would."""
        subprocess.run(["bash", str(KAFKA_SCRIPT), "kill", str(self.workdir)], check=False)
