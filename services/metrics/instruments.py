"""Domain metrics rendered from the projections at scrape time.

Nothing is kept in memory, so every value is right straight after a restart.
"""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from services.metrics.domain import ASSIGNMENT_BUCKETS
from shared.db import Conn


class _Snapshot(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self._metrics


async def render_domain_metrics(pool: asyncpg.Pool) -> bytes:
    """Query the projections and render CONTRACTS.md §5 metrics in Prometheus text format."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        metrics = [await _received(conn), await _assigned(conn), await _assignment_seconds(conn)]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(metrics))
    return generate_latest(registry)


async def _received(conn: Conn) -> Metric:
    family = CounterMetricFamily(
        "referrals_received", "Referrals received.", labels=["kind", "channel", "reporter_group", "acute"]
    )
    for r in await conn.fetch(
        "SELECT kind, channel, reporter_group, acute, count(*) AS n"
        " FROM received GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    ):
        family.add_metric([r["kind"], r["channel"], r["reporter_group"], str(r["acute"]).lower()], r["n"])
    return family


async def _assigned(conn: Conn) -> Metric:
    family = CounterMetricFamily(
        "referrals_assigned", "Referrals assigned to a caseworker.", labels=["team", "reason"]
    )
    rows = await conn.fetch("SELECT team, reason, count(*) AS n FROM assigned GROUP BY 1, 2 ORDER BY 1, 2")
    for r in rows:
        family.add_metric([r["team"], r["reason"]], r["n"])
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
