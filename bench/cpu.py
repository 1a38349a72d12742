"""CPU seconds used by groups of processes between two instants (psutil)."""

from __future__ import annotations

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
