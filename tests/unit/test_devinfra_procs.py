"""Process helpers: spawning with logs, deadline waits, stopping what we started."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from referral_router.devinfra.procs import (
    free_port,
    kill_process,
    spawn,
    stop_process,
    wait_for_http,
    wait_for_port,
)

# Prints "ready" only once its SIGTERM handling is in place, then idles.
IGNORES_SIGTERM = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def _wait_for_log_line(log: Path, line: str, deadline_s: float = 10) -> None:
    # A whole line: the header spawn writes (the argv) contains the text too.
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if log.exists() and line in log.read_text().splitlines():
            return
        time.sleep(0.02)
    raise TimeoutError(f"{line!r} never appeared in {log}")


def test_free_port_returns_a_port_that_can_be_bound_on_loopback() -> None:
    port = free_port()

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_spawn_sends_stdout_and_stderr_to_the_log_with_extra_env(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "child.log"
    code = "import os, sys; print(os.environ['FLAVOUR']); print('oops', file=sys.stderr)"

    proc = spawn("child", [sys.executable, "-c", code], log, env={"FLAVOUR": "mint"})
    proc.wait(timeout=10)

    assert proc.returncode == 0
    assert "mint" in log.read_text()
    assert "oops" in log.read_text()


def test_wait_for_port_times_out_with_a_message_naming_the_thing() -> None:
    with pytest.raises(TimeoutError, match="the widget did not accept connections"):
        wait_for_port("127.0.0.1", free_port(), 0.3, name="the widget")


def test_wait_for_http_fails_at_once_when_the_server_process_has_exited(tmp_path: Path) -> None:
    proc = spawn("doomed", [sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "d.log")
    proc.wait(timeout=10)
    started = time.monotonic()

    with pytest.raises(RuntimeError, match="doomed exited with code 3"):
        wait_for_http(f"http://127.0.0.1:{free_port()}/healthz", 30, name="doomed", proc=proc)

    assert time.monotonic() - started < 5


def test_stop_process_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path: Path) -> None:
    log = tmp_path / "stubborn.log"
    proc = spawn("stubborn", [sys.executable, "-c", IGNORES_SIGTERM], log)
    try:
        _wait_for_log_line(log, "ready")
        code = stop_process(proc, timeout_s=0.5)
    finally:
        kill_process(proc)

    assert code == -9


def test_stop_process_accepts_a_bare_pid(tmp_path: Path) -> None:
    proc = spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "s.log")
    try:
        code = stop_process(proc.pid, timeout_s=5)
    finally:
        kill_process(proc)

    assert code == -15


def test_kill_process_ends_the_process_immediately(tmp_path: Path) -> None:
    proc = spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "s.log")

    kill_process(proc)

    assert proc.returncode == -9
