"""Small process helpers for the dev stack and the test fixtures.

Every helper binds or probes 127.0.0.1 only, and every wait is a deadline loop
with short polling intervals: a fixed sleep is never used to synchronise.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped,unused-ignore]

POLL_INTERVAL_S = 0.05

ProcOrPid = subprocess.Popen[bytes] | int


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    The port is released before returning, so another process may grab it in
    between; callers that start a server on it must tolerate a failed bind.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True if a server could not bind ``host:port`` now (something listens there).

    SO_REUSEADDR as servers set it, so a closed connection in TIME_WAIT does not count.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def port_holder(port: int) -> str | None:
    """Best effort: ``name (pid N)`` of the process listening on ``port``, if we may see it."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return None
    for conn in connections:
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
            try:
                return f"{psutil.Process(conn.pid).name()} (pid {conn.pid})"
            except psutil.Error:
                return f"pid {conn.pid}"
    return None


def spawn(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    *,
    user: int | None = None,
    group: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv``, appending stdout+stderr to ``log_path``; ``env`` overlays os.environ.

    The child gets its own session and process group, so a Ctrl-C in the
    terminal reaches only the supervisor, which then stops it. ``user``/``group``
    switch uid/gid (to run Postgres unprivileged when we are root).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **(env or {})}
    with open(log_path, "ab") as log:
        log.write(f"\n=== {name}: {' '.join(argv)}\n".encode())
        log.flush()
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
            user=user,
            group=group,
            # Without this the child would keep root's supplementary groups.
            extra_groups=[] if user is not None else None,
        )


def log_tail(log_path: Path, max_bytes: int = 4000) -> str:
    """Return the end of a log file (for error messages); '' if it is missing."""
    try:
        with open(log_path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - max_bytes))
            return log.read().decode(errors="replace")
    except OSError:
        return ""


def _check_alive(proc: subprocess.Popen[bytes] | None, what: str) -> None:
    # A server that died during start-up will never answer: fail at once.
    if proc is not None and proc.poll() is not None:
        raise RuntimeError(f"{what} exited with code {proc.returncode} while starting")


def wait_for_port(
    host: str,
    port: int,
    deadline_s: float,
    *,
    name: str | None = None,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    """Poll until ``host:port`` accepts a TCP connection, for up to ``deadline_s`` s.

    Raises TimeoutError naming the thing waited for, or RuntimeError at once if
    ``proc`` (the server process) exits meanwhile.
    """
    what = name or f"{host}:{port}"
    end = time.monotonic() + deadline_s
    last_error = "no attempt"
    while time.monotonic() < end:
        _check_alive(proc, what)
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError as exc:
            last_error = repr(exc)
        time.sleep(POLL_INTERVAL_S)
    raise TimeoutError(
        f"{what} did not accept connections on {host}:{port} "
        f"within {deadline_s:.1f}s (last error: {last_error})"
    )


def wait_for_http(
    url: str,
    deadline_s: float,
    expect_status: int = 200,
    *,
    name: str | None = None,
    proc: subprocess.Popen[bytes] | None = None,
) -> httpx.Response:
    """Poll ``GET url`` until it answers ``expect_status``; return that response.

    Raises TimeoutError naming the thing waited for after ``deadline_s`` seconds,
    or RuntimeError at once if ``proc`` exits meanwhile.
    """
    what = name or url
    end = time.monotonic() + deadline_s
    last = "no attempt"
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while time.monotonic() < end:
            _check_alive(proc, what)
            try:
                response = client.get(url)
                if response.status_code == expect_status:
                    return response
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(POLL_INTERVAL_S)
    raise TimeoutError(
        f"{what} did not answer HTTP {expect_status} at {url} within {deadline_s:.1f}s (last: {last})"
    )


def _own_group(pid: int) -> int | None:
    """Return ``pid``'s process group if ``pid`` leads it and it is not ours.

    Only then is signalling the whole group safe: it is a group that `spawn`
    (start_new_session) created, never the group this Python process runs in.
    """
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return None
    if pgid == pid and pgid != os.getpgrp():
        return pgid
    return None


def _send(pid: int, group: int | None, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        if group is not None:
            os.killpg(group, sig)
        else:
            os.kill(pid, sig)


def _wait(target: ProcOrPid, timeout_s: float) -> tuple[bool, int | None]:
    """Wait for exit, reaping our own children: (exited, exit code if known)."""
    if isinstance(target, subprocess.Popen):
        try:
            return True, target.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False, None
    try:
        # psutil polls for non-children, whose exit code we cannot learn.
        code: int | None = psutil.Process(target).wait(timeout=timeout_s)
        return True, code
    except psutil.NoSuchProcess:
        return True, None
    except psutil.TimeoutExpired:
        return False, None


def _pid_of(target: ProcOrPid) -> int:
    pid = target.pid if isinstance(target, subprocess.Popen) else target
    if pid <= 1:
        raise ValueError(f"refusing to signal pid {pid}")
    return pid


def stop_process(proc_or_pid: ProcOrPid, timeout_s: float = 10) -> int | None:
    """SIGTERM a process we started, wait ``timeout_s``, then SIGKILL it.

    When the process leads its own group (as `spawn` arranges) the whole group
    is signalled, so helpers it forked do not outlive it. Returns the exit code
    when known (None for a non-child that we could only observe vanishing).
    Pass the Popen when there is one: waiting on a bare pid of our own child
    reaps it behind the Popen's back.
    """
    if isinstance(proc_or_pid, subprocess.Popen) and proc_or_pid.poll() is not None:
        return proc_or_pid.returncode
    pid = _pid_of(proc_or_pid)
    group = _own_group(pid)
    _send(pid, group, signal.SIGTERM)
    exited, code = _wait(proc_or_pid, timeout_s)
    if not exited:
        _send(pid, group, signal.SIGKILL)
        exited, code = _wait(proc_or_pid, 5.0)
    return code


def is_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (exited, waiting to be reaped)."""
    try:
        alive: bool = psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
    return alive


def kill_tree(pid: int, timeout_s: float = 5.0) -> None:
    """SIGKILL ``pid`` and all its descendants; wait until none is alive.

    Zombies count as gone: they no longer hold memory, ports or shared memory.
    """
    try:
        root = psutil.Process(_pid_of(pid))
        doomed = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for proc in doomed:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    end = time.monotonic() + timeout_s
    while any(is_alive(proc.pid) for proc in doomed) and time.monotonic() < end:
        time.sleep(POLL_INTERVAL_S)


def kill_process(proc_or_pid: ProcOrPid) -> None:
    """SIGKILL a process we started (its group if it leads one) and reap it.

    This is the crash-like stop for reliability tests: nothing gets to clean up.
    """
    if isinstance(proc_or_pid, subprocess.Popen) and proc_or_pid.poll() is not None:
        return
    pid = _pid_of(proc_or_pid)
    _send(pid, _own_group(pid), signal.SIGKILL)
    _wait(proc_or_pid, 5.0)
