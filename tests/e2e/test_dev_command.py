"""`referral-router dev` starts everything, answers on every port, and leaves nothing behind."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import psutil

from referral_router.devinfra.procs import free_port
from referral_router.stack import REPO, SERVICES, Ports

PARTS = tuple(Ports.__dataclass_fields__)  # every part of the stack that has a port


def kill_left_over(processes: list[psutil.Process]) -> None:
    """After a failure, end the servers the dev command started, so none outlives the test."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout_s: float) -> str:
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if needle in line:
            return "".join(seen)
    raise AssertionError(f"{needle!r} not printed within {timeout_s} s:\n{''.join(seen)}")


def test_dev_answers_on_every_port_and_stops_cleanly_on_sigint(tmp_path):
    ports = {part: free_port() for part in PARTS}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA__", "DATABASE__"))}
    env.update({f"DEV_{part.upper()}_PORT": str(port) for part, port in ports.items()})
    env["DEV_STATE_DIR"] = str(tmp_path / "state")
    proc = subprocess.Popen(
        [sys.executable, "-m", "referral_router.cli", "dev", "--no-simulator"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    descendants: list[psutil.Process] = []
    try:
        banner = wait_for_line(proc, "portal client", timeout_s=120)
        descendants = psutil.Process(proc.pid).children(recursive=True)
        with httpx.Client(timeout=5) as client:
            for service in SERVICES:
                for path in ("/healthz", "/readyz", "/metrics"):
                    assert client.get(f"http://127.0.0.1:{ports[service]}{path}").status_code == 200
                assert f"http://127.0.0.1:{ports[service]}" in banner
            assert client.get(f"http://127.0.0.1:{ports['smtp_http']}/messages").json() == []
            assert client.get(f"http://127.0.0.1:{ports['teams']}/messages").json() == []
        for part in ("kafka", "postgres", "smtp"):
            socket.create_connection(("127.0.0.1", ports[part]), timeout=5).close()
        assert (tmp_path / "state" / "logs" / "intake.log").exists()
        assert len(descendants) >= 8  # postgres, tansu, two sinks, four services

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=90) == 0
        assert "stopped." in (proc.stdout.read() if proc.stdout else "")
        _gone, alive = psutil.wait_procs(descendants, timeout=10)
        assert alive == [], [p.info for p in alive]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_left_over(descendants)
