"""Technical metrics every service exposes on /metrics (CONTRACTS.md §5, last paragraph)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_HANDLED = Counter(
    "events_handled_total",
    "Kafka messages handled, by topic and outcome (handled, duplicate, deadlettered, failed).",
    ["service", "topic", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "event_handler_seconds",
    "Time to handle one Kafka message, including its database transaction.",
    ["service", "topic"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DEADLETTERS = Counter("deadletters_total", "Messages sent to the dead-letter topic.", ["service", "topic"])
HANDLER_RETRIES = Counter(
    "event_handler_retries_total",
    "Transient failures retried inside a handler (database or broker unavailable).",
    ["service", "topic"],
)
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Outbox rows not yet published.", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row.", ["service"]
)
OUTBOX_PUBLISHED = Counter("outbox_published_total", "Outbox rows published to Kafka.", ["service", "topic"])
CONSUMER_LAG = Gauge(
    "kafka_consumer_lag",
    "Messages behind the end of the topic (end offset minus committed offset) on this instance's partitions.",
    ["service", "topic"],
)
OUTBOX_ERRORS = Counter("outbox_relay_errors_total", "Relay rounds that failed and backed off.", ["service"])
CONSUMER_FAILING = Gauge(
    "consumer_failing",
    "1 while the service's consumer keeps giving up batches (a dependency is away), else 0.",
    ["service"],
)
