"""docs/PERFORMANCE.md from a bench/e2e.py run: machine, versions, commands, table, baselines.

The sections this writes are replaced on each run; every other section (e.g. "Intake", written
by bench/intake) is left as it is.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from referral_router.devinfra.tansu import tansu_binary
from referral_router.stack import KAFKA_SCRIPT, REPO

PACKAGES = ("aiokafka", "asyncpg", "faststream", "fastapi", "uvicorn", "pydantic", "aiosmtplib", "psutil")
CPU_COLUMNS = ("intake", "assignment", "notifications", "metrics", "postgres", "broker")
SECTIONS = ("## End to end", "## Baselines", "## Before/after")
TARGET_PER_S = 200
KEEP_UP_SHARE = 0.95
BEFORE = REPO / "bench" / "results" / "before-1.json"  # and every other stage file beside it
CHANGES = REPO / "bench" / "results" / "changes.md"


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM and kernel of this machine."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": len(os.sched_getaffinity(0)),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "arch": platform.machine(),
    }


async def versions(database_url: str, flavour: str) -> dict[str, str]:
    """Python, Postgres, broker and key package versions."""
    conn = await asyncpg.connect(database_url)
    try:
        postgres = str(await conn.fetchval("SHOW server_version"))
        fsync = str(await conn.fetchval("SHOW fsync"))
    finally:
        await conn.close()
    out = {
        "python": platform.python_version(),
        "postgres": f"{postgres} (fsync={fsync})",
        "broker": _broker(flavour),
    }
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _broker(flavour: str) -> str:
    if flavour == "apache":
        text = KAFKA_SCRIPT.read_text("utf-8")
        for line in text.splitlines():
            if line.strip().startswith(("KAFKA_VERSION=", "VERSION=")):
                value = line.split("=", 1)[1].split("#", 1)[0]
                return "Apache Kafka " + value.strip().strip("\"'${}:-")
        return "Apache Kafka"
    try:
        out = subprocess.run([tansu_binary(), "--version"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "tansu"
    except (OSError, subprocess.SubprocessError):
        return "tansu"


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.0f}"


def report_path(flavour: str) -> str:
    """Where `make bench` writes the report of a broker flavour (relative to the repository)."""
    return "docs/PERFORMANCE.md" if flavour == "tansu" else f"docs/PERFORMANCE-{flavour}.md"


def json_path(flavour: str) -> str:
    """Where `make bench` writes the raw results of a broker flavour."""
    return "bench/results/latest.json" if flavour == "tansu" else f"bench/results/{flavour}-latest.json"


def sustained(results: dict[str, Any]) -> dict[str, Any] | None:
    """The highest step that kept up, or None."""
    kept = [s for s in results["steps"] if s["kept_up"]]
    return max(kept, key=lambda s: s["offered"]) if kept else None


def at_rate(results: dict[str, Any], rate: float) -> dict[str, Any] | None:
    """The step at an offered rate, if it ran."""
    return next((s for s in results["steps"] if s["offered"] == rate), None)


def steps_table(results: dict[str, Any]) -> str:
    """One row per offered rate."""
    rows = [
        "| Offered /s | Sent | Delivered | Achieved /s | p50 ms | p95 ms | p99 ms | CPU s/referral"
        " | intake | assignment | notifications | metrics | postgres | broker | Kept up |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for s in results["steps"]:
        by = s["cpu_by_group"]
        groups = " | ".join(f"{by.get(g, float('nan')):.4f}" for g in CPU_COLUMNS)
        rows.append(
            f"| {s['offered']:.0f} | {s['sent']} | {s['delivered']} | {s['achieved']:.1f} | {_ms(s['p50_s'])}"
            f" | {_ms(s['p95_s'])} | {_ms(s['p99_s'])} | {s['cpu_per_referral']:.4f} | {groups}"
            f" | {'yes' if s['kept_up'] else 'no'} |"
        )
    return "\n".join(rows)


def baselines_section(results: dict[str, Any]) -> str:
    """The bare Kafka and Postgres figures and ours as a ratio of them."""
    base = results["baselines"]
    kafka, pg = base["kafka"], base["postgres"]
    best = sustained(results)
    ours = best["achieved"] if best else 0.0
    at50 = at_rate(results, 50.0)
    lines = [
        "## Baselines",
        "",
        "Measured in the same run, on the same Postgres and broker, after the services were stopped"
        " (`bench/baselines.py`).",
        "",
        f"- **Kafka produce -> consume** ({kafka['throughput']['bytes']}-byte messages, the average"
        f" `referrals.received.v1` event; acks=all, linger 2 ms, {base['partitions']} partitions):"
        f" **{kafka['throughput']['per_s']:.0f} messages/s** with the producer pipelining"
        f" {kafka['throughput']['messages']} messages.",
    ]
    for lat in kafka["latency"]:
        lines.append(
            f"  Round trip at {lat['rate']:.0f} messages/s (open loop): p50 {lat['p50_ms']:.1f} ms,"
            f" p95 {lat['p95_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms."
        )
    lines.append(
        "- **Postgres insert + commit** of the four rows intake writes for one referral (submission,"
        " encrypted details, referral, outbox row), one transaction per referral, fsync on:"
    )
    for p in pg:
        lines.append(
            f"  {p['concurrency']} connection(s): **{p['per_s']:.0f} transactions/s**, p50"
            f" {p['p50_ms']:.2f} ms, p99 {p['p99_ms']:.2f} ms."
        )
    kafka_tp = kafka["throughput"]["per_s"]
    pg_tp = max(p["per_s"] for p in pg)
    k50 = next((lat for lat in kafka["latency"] if lat["rate"] == 50.0), None)
    lines += [
        "",
        "Ours as a ratio of the limits:",
        "",
        "| Measure | Ours | Limit | Ratio |",
        "|---|---:|---:|---:|",
        f"| Throughput vs Kafka produce->consume | {ours:.0f}/s | {kafka_tp:.0f}/s | {ours / kafka_tp:.3f} |",
        f"| Throughput vs Postgres intake transaction ({max(p['concurrency'] for p in pg)} connections)"
        f" | {ours:.0f}/s | {pg_tp:.0f}/s | {ours / pg_tp:.3f} |",
    ]
    if at50 is not None and k50 is not None:
        lines.append(
            f"| p50 latency at 50/s vs Kafka round trip at 50/s | {at50['p50_s'] * 1000:.0f} ms"
            f" | {k50['p50_ms']:.1f} ms | {at50['p50_s'] * 1000 / k50['p50_ms']:.1f}x |"
        )
    lines += [
        "",
        "A referral crosses Kafka twice on its way to the email (`referrals.received.v1`, then"
        " `referrals.assigned.v1`; the outcome on `notifications.v1` follows the email) and commits"
        " about six Postgres transactions (intake; relay mark; assignment with its inbox row; relay"
        " mark; notifications' delivery row; claim; outcome), besides the metrics projection. So the"
        " pipeline cannot come near either limit alone; the ratios show how much of each limit one"
        " referral costs.",
    ]
    return "\n".join(lines) + "\n"


def end_to_end_section(results: dict[str, Any]) -> str:
    """Machine, versions, commands, the step table and what it means."""
    m, v = results["machine"], results["versions"]
    best = sustained(results)
    at50 = at_rate(results, 50.0)
    packages = ", ".join(f"{p} {v[p]}" for p in PACKAGES if p in v)
    flavour = results["flavour"]
    lines = [
        "## End to end",
        "",
        f"Measured {results['when']} by `make bench{'' if flavour == 'tansu' else ' KAFKA=' + flavour}`"
        f" (`TEST_KAFKA={flavour} .venv/bin/python -m bench.e2e --report {report_path(flavour)}"
        f" --json {json_path(flavour)}`), {results['wall_s']:.0f} s wall time."
        f" Raw results: `{json_path(flavour)}`.",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM,"
        f" Linux {m['kernel']} ({m['arch']}).",
        f"- Versions: Python {v['python']}, PostgreSQL {v['postgres']}, broker {v['broker']}; {packages}.",
        "- Set-up: one Postgres (fsync on, as in production), one broker, the SMTP sink"
        " (`referral_router.devinfra.smtp_sink`) and the four services as separate processes"
        " (`referral_router.stack.ServiceProcesses`) with `deploy/config/unit.example.yaml` and default"
        " settings (log level INFO). The load generator and the sink run on the same machine.",
        f"- Load: open loop. Each step sends offered rate x {results['step_s']:.0f} s signed one-child"
        " submissions to `POST /v1/referrals` on a fixed schedule (queueing shows as latency, it does"
        " not slow the sender), after a 10/s warm-up. Latency = the email's arrival in the SMTP sink"
        " minus the instant the POST was due. Achieved = emails that arrived within the step's steady"
        " window (from 5 s after its start to its end) per second. CPU s/referral = user+system CPU of"
        " the four services, Postgres (all backends) and the broker from the step's start until its"
        " last email (at most 30 s after the step), divided by the referrals delivered; the per-process"
        " columns split it (load generator and sink not included).",
        f"- A step kept up when every accepted referral was delivered, achieved >= {KEEP_UP_SHARE:.0%} of"
        " offered and"
        " p95 < 2 s. Stepping stops at the first step that did not.",
        "",
        steps_table(results),
        "",
    ]
    if best is not None:
        lines.append(
            f"**Sustained end-to-end throughput: {best['achieved']:.0f} referrals/s** (offered"
            f" {best['offered']:.0f}/s; CPU {best['cpu_per_referral'] * 1000:.1f} ms per referral)."
        )
    else:
        lines.append("**No step kept up.**")
    if at50 is not None:
        lines.append(
            f" At 50 referrals/s: p50 {_ms(at50['p50_s'])} ms, p95 {_ms(at50['p95_s'])} ms,"
            f" p99 {_ms(at50['p99_s'])} ms."
        )
    throughput_met = best is not None and best["achieved"] >= TARGET_PER_S * KEEP_UP_SHARE
    latency_met = at50 is not None and at50["p99_s"] < 1.0
    lines.append(
        f" Targets (issue 7): at least {TARGET_PER_S}/s sustained: {'met' if throughput_met else 'missed'};"
        f" p99 under 1 s at 50/s: {'met' if latency_met else 'missed'}."
    )
    lines.append("")
    lines.append(reading(results, best))
    return "\n".join(lines).replace("\n ", " ") + "\n"


def reading(results: dict[str, Any], best: dict[str, Any] | None) -> str:
    """What limits the pipeline, computed from this run's own figures."""
    step = best or (results["steps"][0] if results["steps"] else None)
    if step is None:
        return ""
    by = step["cpu_by_group"]
    system_ms = step["cpu_per_referral"] * 1000
    harness_ms = (by.get("harness", 0.0) + by.get("smtp-sink", 0.0)) * 1000
    cores = results["machine"]["cores"]
    ceiling = cores * 1000 / (system_ms + harness_ms)
    needed = cores * 1000 / TARGET_PER_S - harness_ms
    shares = sorted(((g, by[g] * 1000) for g in CPU_COLUMNS if g in by), key=lambda x: -x[1])
    kafka_p50 = next((lat["p50_ms"] for lat in results["baselines"]["kafka"]["latency"]), float("nan"))
    return (
        f"Reading: at {step['offered']:.0f}/s the system used {system_ms:.1f} ms of CPU per referral"
        f" ({', '.join(f'{g} {ms:.1f}' for g, ms in shares)}), and the load generator and the sink"
        f" another {harness_ms:.1f} ms. At that cost {cores} cores carry at most about"
        f" {ceiling:.0f} referrals/s even with nothing else running, and less in practice: the"
        " services' event loops, Postgres and the broker do not spread evenly over the cores, and"
        f" other work shared this machine. {TARGET_PER_S}/s would need under {needed:.1f} ms per"
        " referral for all of it together. Latency has a floor from the broker: one produce ->"
        f" consume round trip costs p50 {kafka_p50:.0f} ms on this broker (baseline below), and a"
        " referral crosses two topics before its email, so p50 cannot go much below twice that"
        " whatever the services do."
        " Profiles: `.venv/bin/python -m bench.profile --rate 60` (py-spy on every service under"
        " load, top frames, and the median time of each hop from the databases) and"
        " `.venv/bin/python -m bench.costs --rate 150` (CPU, round trips and context switches per"
        " process, and every Postgres statement's calls, execution and planning time, blocks and WAL,"
        " per referral)."
    )


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One run whose steps hold, per offered rate, the median of each figure over `runs`."""
    steps = []
    for rate in sorted({s["offered"] for r in runs for s in r["steps"]}):
        found = [s for r in runs for s in r["steps"] if s["offered"] == rate]
        step = dict(found[0])
        for key in ("achieved", "p50_s", "p95_s", "p99_s", "cpu_per_referral"):
            step[key] = statistics.median(s[key] for s in found)
        step["kept_up"] = sum(s["kept_up"] for s in found) * 2 > len(found)
        steps.append(step)
    return {"steps": steps}


# The stages compared, oldest first: (label, file prefix in bench/results/, what the code was).
STAGES = (
    ("Before", "before", "commit 5621e19, before any optimisation"),
    ("Round 1", "round1", "commit b6f3774: batched consumers, one-statement writes, kept SMTP connections"),
    ("Round 2", "round2", "commit e8127de: uvloop, flat-cost loads, fewer statements, fetch wait"),
    ("After", "after", "this code: the changes of round 3 below as well"),
)


def before_after_section(results: dict[str, Any]) -> str:
    """Each stage's median over its runs in bench/results/ (this run counts as After)."""
    if results.get("flavour") != "tansu":  # the stages' runs were all made on Tansu
        return "## Before/after\n\nMeasured on Tansu: see [PERFORMANCE.md](PERFORMANCE.md).\n"
    medians, described = [], []
    for label, prefix, what in STAGES:
        files = sorted(BEFORE.parent.glob(f"{prefix}-*.json"))
        runs = [json.loads(f.read_text("utf-8")) for f in files]
        if prefix == "after":
            runs.insert(0, results)
        if not runs:
            return ""
        medians.append(median_run(runs))
        names = ", ".join(f"`bench/results/{f.name}`" for f in files)
        source = f"this run and {names}" if prefix == "after" and files else names or "this run"
        described.append(f"- **{label}**: {what}; median of {len(runs)} run(s) ({source}).")
    lines = [
        "## Before/after",
        "",
        "The same benchmark on the code at each stage below, on the same machine. A step that was"
        " not run because the previous one already saturated shows as -. Other work shared the two cores"
        " during some of the runs, so expect tens of per cent of noise.",
        "",
        *described,
        "",
        "| Offered /s | " + " | ".join(f"{label} achieved /s" for label, _, _ in STAGES)
        + " | " + " | ".join(f"{label} p50/p99 ms" for label, _, _ in STAGES)
        + " | " + " | ".join(f"{label} CPU s/ref" for label, _, _ in STAGES) + " |",
        "|---:|" + "---:|" * (3 * len(STAGES)),
    ]  # fmt: skip
    rates = sorted({s["offered"] for m in medians for s in m["steps"]})
    for rate in rates:
        steps = [at_rate(m, rate) for m in medians]
        cells = [_cell(s, "achieved") for s in steps] + [_lat(s) for s in steps]
        cells += [_cell(s, "cpu_per_referral", 4) for s in steps]
        lines.append(f"| {rate:.0f} | " + " | ".join(cells) + " |")
    kept = [sustained(m) for m in medians]
    figures = [
        f"{label.lower()} {k['achieved'] if k else 0:.0f}/s"
        for (label, _, _), k in zip(STAGES, kept, strict=True)
    ]
    lines += ["", "Sustained: " + ", ".join(figures) + ".", ""]
    if CHANGES.exists():
        lines.append(CHANGES.read_text("utf-8").strip())
    return "\n".join(lines) + "\n"


def _cell(step: dict[str, Any] | None, key: str, digits: int = 1) -> str:
    return "-" if step is None else f"{step[key]:.{digits}f}"


def _lat(step: dict[str, Any] | None) -> str:
    return "-" if step is None else f"{_ms(step['p50_s'])} / {_ms(step['p99_s'])}"


def write(path: Path, results: dict[str, Any]) -> None:
    """Replace this module's sections of the document, keeping every other section."""
    text = path.read_text("utf-8") if path.exists() else "# Performance\n"
    for heading in SECTIONS:
        text = _remove_section(text, heading)
    ours = [end_to_end_section(results), baselines_section(results), before_after_section(results)]
    text = text.rstrip("\n") + "\n\n" + "\n".join(s for s in ours if s)
    path.write_text(text, "utf-8")


def _remove_section(text: str, heading: str) -> str:
    start = text.find(heading + "\n")
    if start < 0:
        return text
    end = text.find("\n## ", start + 1)
    return text[:start] + (text[end + 1 :] if end >= 0 else "")
