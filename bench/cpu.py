"""CPU seconds used by groups of processes between two instants (psutil)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Collection, Mapping

import psutil

Snapshot = dict[str, dict[int, float]]


def _tree_cpu(pid: int, children: bool) -> dict[int, float]:
    """CPU seconds (user + system) of a process and (optionally) its live descendants, by pid."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)] if children else [root]
    except psutil.Error:
        return {}
    seen: dict[int, float] = {}
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        seen[proc.pid] = times.user + times.system
    return seen


def snapshot(groups: Mapping[str, int | None], alone: Collection[str] = ()) -> Snapshot:
    """CPU so far for each named process tree (e.g. Postgres = postmaster and its backends).

    Groups named in `alone` count only the process itself: the harness is the parent of
    everything it started, and must not count their CPU as its own.
    """
    return {name: _tree_cpu(pid, name not in alone) for name, pid in groups.items() if pid is not None}


def used(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """CPU seconds each group used between the snapshots.

    A process that started in between counts from zero; one that ended in between is lost (a
    Postgres backend that closed), which undercounts slightly: pools keep their connections.
    """
    out: dict[str, float] = {}
    for name, procs in after.items():
        earlier = before.get(name, {})
        out[name] = sum(max(0.0, cpu - earlier.get(pid, 0.0)) for pid, cpu in procs.items())
    return out


# Wake-ups and on-CPU time from /proc, per thread: robust on a loaded machine. A process at
# rest costs little per wake-up, but on some hosts (VMs) each wake-up costs milliseconds, so
# the count is what the code controls and the percentage is what the host makes of it.
Counters = dict[str, dict[tuple[int, int], tuple[int, int]]]  # group → (pid, tid) → (wakes, ns)


def _thread_counters(pid: int) -> dict[tuple[int, int], tuple[int, int]]:
    """Voluntary context switches and nanoseconds on CPU (schedstat) of each thread of a pid."""
    out: dict[tuple[int, int], tuple[int, int]] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/status", encoding="ascii") as status:
                wakes = next(int(line.split()[1]) for line in status if line.startswith("voluntary_ctxt"))
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as schedstat:
                ns = int(schedstat.read().split()[0])
        except (OSError, StopIteration, ValueError, IndexError):
            continue
        out[(pid, int(tid))] = (wakes, ns)
    return out


def counters(groups: Mapping[str, int | None], alone: Collection[str] = ()) -> Counters:
    """Per-thread wake-ups and CPU so far of each named process tree (as `snapshot`)."""
    out: Counters = {}
    for name, pid in groups.items():
        if pid is None:
            continue
        try:
            root = psutil.Process(pid)
            pids = [pid] if name in alone else [pid, *(c.pid for c in root.children(recursive=True))]
        except psutil.Error:
            continue
        out[name] = {key: value for p in pids for key, value in _thread_counters(p).items()}
    return out


def rates(before: Counters, after: Counters, seconds: float) -> dict[str, tuple[float, float]]:
    """Wake-ups per second and % of one core (schedstat) of each group between the two counts;
    a thread that started in between counts from zero, one that ended is lost (as `used`)."""
    out: dict[str, tuple[float, float]] = {}
    for name, threads in after.items():
        earlier = before.get(name, {})
        wakes = ns = 0
        for key, (w, n) in threads.items():
            w0, n0 = earlier.get(key, (0, 0))
            wakes, ns = wakes + max(0, w - w0), ns + max(0, n - n0)
        out[name] = (round(wakes / seconds, 2), round(100 * ns / 1e9 / seconds, 3))
    return out


CALIBRATION = (
    "import asyncio\n"
    "async def main():\n"
    "    while True:\n"
    "        await asyncio.sleep(1)\n"
    "asyncio.run(main())\n"
)


def start_calibration() -> subprocess.Popen[bytes]:
    """A bare asyncio process that wakes once a second: what one wake-up a second costs here."""
    return subprocess.Popen([sys.executable, "-c", CALIBRATION])
