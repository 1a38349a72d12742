"""Domain metrics (CONTRACTS.md §5) rendered from the projections at scrape time.

Nothing is kept in memory, so every value is right straight after a restart, and several
metrics instances would all report the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import product

import asyncpg
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from services.metrics.domain import ASSIGNMENT_BUCKETS, DEADLINES, OPEN_STATES, imbalance_ratio, started
from shared.db import Conn


@dataclass(frozen=True)
class Unit:
    """What the metrics need from the unit config: teams and each caseworker's FTE."""

    teams: tuple[str, ...]
    fte: Mapping[str, Mapping[str, float]]  # team -> caseworker -> employment rate
    hired: Mapping[str, date] = field(default_factory=dict)  # caseworker -> hire date, when set


class _Snapshot(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self._metrics


async def render_domain_metrics(pool: asyncpg.Pool, unit: Unit, today: date | None = None) -> bytes:
    """Query the projections in one snapshot and render them in Prometheus text format."""
    today = today or datetime.now(UTC).date()
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        metrics = [
            await _counter(conn, "referrals_received", "Referrals received.",
                           ["kind", "channel", "reporter_group", "acute"],
                           "SELECT kind, channel, reporter_group, acute::text, count(*) FROM received"
                           " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"),
            await _counter(conn, "referrals_assigned", "Assignments and reassignments.", ["team", "reason"],
                           "SELECT team, reason, count(*) FROM assignment_events"
                           " GROUP BY 1, 2 ORDER BY 1, 2"),
            await _counter(conn, "deadline_breaches", "Legal deadlines breached.", ["deadline", "team"],
                           "SELECT deadline, team, count(*) FROM breaches GROUP BY 1, 2 ORDER BY 1, 2",
                zeros=product(DEADLINES, unit.teams)),
            await _counter(conn, "notifications", "What became of notifications.", ["channel", "outcome"],
                           "SELECT channel, outcome, count(*) FROM notification_outcomes"
                           " GROUP BY 1, 2 ORDER BY 1, 2",
                zeros=product(("email", "teams"), ("sent", "failed", "unknown"))),
            await _gauge(conn, "referrals_open", "Open cases by team and status.", ["team", "status"],
                         "SELECT team, status, count(*) FROM cases WHERE status <> 'closed'"
                         " AND team IS NOT NULL"
                         " GROUP BY 1, 2 ORDER BY 1, 2"),
            await _assignment_seconds(conn),
            _deadlines_open(await conn.fetch(
                "SELECT deadline, state, count(*) AS n FROM deadline_states"
                " WHERE state <> 'met' GROUP BY 1, 2")),
            *_caseload(await conn.fetch(
                "SELECT team, caseworker, sum(weight) AS load FROM cases WHERE status <> 'closed'"
                " AND team IS NOT NULL"
                " GROUP BY 1, 2"), unit, today),
            *_rotation(await conn.fetchrow("SELECT to_team, next_at FROM handovers ORDER BY at DESC LIMIT 1"),
                       unit),
        ]  # fmt: skip
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(metrics))
    return generate_latest(registry)


async def _counter(
    conn: Conn, name: str, doc: str, labels: list[str], sql: str, zeros: Iterable[tuple[str, ...]] = ()
) -> Metric:
    # Series in `zeros` start at 0, so the first event is an increase that alerts can see.
    values = dict.fromkeys(zeros, 0)
    for row in await conn.fetch(sql):
        values[tuple(str(v) for v in list(row)[:-1])] = row[-1]
    family = CounterMetricFamily(name, doc, labels=labels)
    for key in sorted(values):
        family.add_metric(list(key), values[key])
    return family


async def _gauge(conn: Conn, name: str, doc: str, labels: list[str], sql: str) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for row in await conn.fetch(sql):
        family.add_metric([str(v) for v in list(row)[:-1]], row[-1])
    return family


async def _assignment_seconds(conn: Conn) -> Metric:
    cumulative = ", ".join(f"count(*) FILTER (WHERE assignment_seconds <= {b})" for b in ASSIGNMENT_BUCKETS)
    row = await conn.fetchrow(
        "SELECT count(*) AS n, coalesce(sum(assignment_seconds), 0) AS total,"
        f" ARRAY[{cumulative}] AS cumulative FROM assigned"
    )
    assert row is not None
    buckets = [(str(float(b)), c) for b, c in zip(ASSIGNMENT_BUCKETS, row["cumulative"], strict=True)]
    buckets.append(("+Inf", row["n"]))
    family = HistogramMetricFamily(
        "referral_assignment_seconds", "Seconds from receipt (submitted_at) to assignment."
    )
    family.add_metric([], buckets, float(row["total"]))
    return family


def _deadlines_open(rows: list[asyncpg.Record]) -> Metric:
    counts = {(r["deadline"], r["state"]): r["n"] for r in rows}
    family = GaugeMetricFamily(
        "deadlines_open", "Legal deadlines not yet met, by state.", labels=["deadline", "state"]
    )
    for deadline in DEADLINES:
        for state in OPEN_STATES:
            family.add_metric([deadline, state], counts.get((deadline, state), 0))
    return family


def _caseload(rows: list[asyncpg.Record], unit: Unit, today: date) -> list[Metric]:
    loads: dict[str, dict[str, float]] = {
        team: dict.fromkeys(people, 0.0) for team, people in unit.fte.items()
    }
    for r in rows:
        loads.setdefault(r["team"], {})[r["caseworker"]] = float(r["load"])
    weighted = GaugeMetricFamily("caseload_weighted", "Weighted open caseload per caseworker.",
                                 labels=["team", "caseworker"])  # fmt: skip
    ratio = GaugeMetricFamily(
        "caseload_imbalance_ratio",
        "Max ÷ min weighted load per FTE among the team's caseworkers who have started work.",
        labels=["team"],
    )
    for team in sorted(loads):
        for person in sorted(loads[team]):
            weighted.add_metric([team, person], loads[team][person])
        value = imbalance_ratio(loads[team], started(unit.fte.get(team, {}), unit.hired, today))
        if value is not None:
            ratio.add_metric([team], value)
    return [weighted, ratio]


def _rotation(row: asyncpg.Record | None, unit: Unit) -> list[Metric]:
    on_duty = GaugeMetricFamily("rotation_on_duty", "1 for the team on duty, else 0.", labels=["team"])
    following = GaugeMetricFamily(
        "rotation_next_handover_timestamp_seconds", "When the next handover happens."
    )
    if row is not None:
        for team in unit.teams:
            on_duty.add_metric([team], 1.0 if team == row["to_team"] else 0.0)
        if row["next_at"] is not None:
            following.add_metric([], row["next_at"].timestamp())
    return [on_duty, following]
