"""`referral-router dev` with the simulator, on a pseudo-terminal: the live view shows every part.

Issue 8, "Show" 1: team on duty and time to handover, received and assigned, weighted load bars
per team, deadlines, the latest notifications, the health of each service; then Ctrl-C stops
everything and leaves no process behind.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import psutil
import yaml

from referral_router.devinfra.procs import free_port
from referral_router.stack import REPO, SERVICES, Ports
from tests.e2e.test_dev_command import kill_left_over

PARTS = tuple(Ports.__dataclass_fields__)  # every part of the stack that has a port
ROWS, COLUMNS = 50, 160
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]|\r")
HEADER = "referral-router  dev stack"
VIEW_SECONDS = 30


def strip_ansi(raw: bytes) -> str:
    return ANSI.sub("", raw.decode("utf-8", errors="replace"))


def read_until(fd: int, proc: subprocess.Popen[bytes], done, timeout_s: float, buffer: bytearray) -> None:
    """Read the terminal into `buffer` until `done(text)` or the timeout (or the process ends)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the other side closed
                return
            if not chunk:
                return
            buffer.extend(chunk)
            if done(strip_ansi(bytes(buffer))):
                return
        elif proc.poll() is not None:
            return


def last_frame(text: str) -> str:
    """The last complete frame of the live view (rich redraws the whole frame each second)."""
    frames = [f for f in text.split(HEADER) if "Latest notifications" in f]
    assert frames, text[-3000:]
    return HEADER + frames[-1].split("stopping …")[0]


def unit_teams() -> dict[str, str]:
    config = yaml.safe_load((REPO / "deploy" / "config" / "unit.example.yaml").read_text("utf-8"))
    return {t["id"]: t["name"] for t in config["teams"]}


def test_live_view_on_a_terminal_shows_the_system_at_work(tmp_path):
    ports = {part: free_port() for part in PARTS}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA__", "DATABASE__"))}
    env.update({f"DEV_{part.upper()}_PORT": str(port) for part, port in ports.items()})
    env.update({"DEV_STATE_DIR": str(tmp_path / "state"), "TERM": "xterm-256color", "COLUMNS": str(COLUMNS)})
    env.pop("NO_COLOR", None)
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    argv = [sys.executable, "-m", "referral_router.cli", "dev", "--rate", "1", "--seed", "8"]
    argv += ["--accelerate", "20000", "--backdate-days", "28"]
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    out = bytearray()
    descendants: list[psutil.Process] = []
    try:
        read_until(leader, proc, lambda t: HEADER in t, 180, out)
        assert HEADER in strip_ansi(bytes(out)), strip_ansi(bytes(out))[-3000:]
        descendants = psutil.Process(proc.pid).children(recursive=True)
        read_until(leader, proc, lambda t: False, VIEW_SECONDS, out)
        proc.send_signal(signal.SIGINT)
        read_until(leader, proc, lambda t: "stopped." in t, 90, out)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_left_over(descendants)
        os.close(leader)
    text = strip_ansi(bytes(out))
    frame = last_frame(text)
    print(frame)  # shown on failure

    # The team on duty, named from the unit config, and the time to the next handover.
    teams = unit_teams()
    duty = re.search(r"on duty\s+(.+?) \((team-[a-z])\)", frame)
    assert duty is not None, frame
    assert duty.group(2) in teams and duty.group(1) == teams[duty.group(2)]
    assert re.search(r"handover .*\(in \d+ (d|h|min|s)", frame), frame
    assert "simulated time" in frame  # the accelerated simulator's clock and its team on duty
    # Where a referral arriving now goes (at the simulated time), and why (issue 25).
    route = re.search(r"new referrals now go to\s+(.+?) \((team-[a-z])\)", frame)
    assert route is not None and route.group(2) in teams, frame
    assert re.search(r"why .*(office hours|office day|at receipt)", frame), frame

    # Referrals received and assigned, with plausible numbers.
    received = int(re.search(r"received\s+(\d+)", frame).group(1))
    assigned = int(re.search(r"assigned\s+(\d+)", frame).group(1))
    assert received >= assigned > 0, frame

    # Weighted load per caseworker: a bar per caseworker, in a column per team, some filled.
    bars = re.findall(r"(cw-[a-c]\d)\s+([█░]{16})\s+(\d+\.\d\d)", frame)
    assert {cw for cw, _, _ in bars} >= {f"cw-{t}{i}" for t in "abc" for i in range(1, 7)}, frame
    assert any("█" in bar and float(load) > 0 for _, bar, load in bars), frame
    for name in teams.values():
        assert name in frame

    # Deadlines by kind and state.
    for label in ("protection assessment", "preliminary assessment", "investigation", "feedback to reporter"):
        assert re.search(label + r"\s+\d+\s+\d+\s+\d+", frame), frame
    assert re.search(r"breaches so far\s+\d+", frame), frame

    # The latest notifications as staff received them.
    shown = int(re.search(r"Latest notifications \((\d+) in all\)", frame).group(1))
    assert shown > 0, frame
    assert re.search(r"\d\d:\d\d:\d\d\s+email\s+\S+@kommun\.example", frame), frame

    # Every service ready.
    for service in SERVICES:
        assert re.search(rf"✓\s+{service}\s+ready", frame), frame
    assert "✗" not in frame

    # Nothing left running.
    _gone, alive = psutil.wait_procs(descendants, timeout=15)
    assert alive == [], [p.info for p in alive]
