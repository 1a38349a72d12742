"""Delivery counts by channel and status, read from the deliveries table at scrape time."""

from __future__ import annotations

import asyncpg
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

STATUSES = ("pending", "sending", "sent", "failed", "unknown")
CHANNELS = ("email", "teams")


class _Deliveries(Collector):
    def __init__(self, counts: dict[tuple[str, str], int]) -> None:
        self._counts = counts

    def collect(self):  # type: ignore[no-untyped-def]
        family = GaugeMetricFamily(
            "notification_deliveries",
            "Deliveries by channel and status; unknown ones need a person.",
            labels=["service", "channel", "status"],
        )
        for channel in CHANNELS:
            for status in STATUSES:
                family.add_metric(["notifications", channel, status], self._counts.get((channel, status), 0))
        yield family


async def render_delivery_metrics(pool: asyncpg.Pool) -> bytes:
    """`notification_deliveries{service,channel,status}` in Prometheus text format."""
    rows = await pool.fetch("SELECT channel, status, count(*) AS n FROM deliveries GROUP BY 1, 2")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Deliveries({(r["channel"], r["status"]): r["n"] for r in rows}))
    return generate_latest(registry)
