"""Delivery counts by channel and status in Prometheus text format, read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.notifications.domain.delivery import Status

CHANNELS = ("email", "teams")


class _Deliveries(Collector):
    def __init__(self, counts: Mapping[tuple[str, str], int]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "notification_deliveries",
            "Deliveries by channel and status; unknown ones need a person.",
            labels=["service", "channel", "status"],
        )
        for channel in CHANNELS:
            for status in Status:
                family.add_metric(
                    ["notifications", channel, status.value], self._counts.get((channel, status.value), 0)
                )
        yield family


def delivery_metrics(counts: Mapping[tuple[str, str], int]) -> bytes:
    """`notification_deliveries{service,channel,status}` for the counts (`DeliveryLedger.counts`)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Deliveries(counts))
    return generate_latest(registry)
