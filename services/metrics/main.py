"""Composition root of the metrics service."""

from __future__ import annotations

from fastapi import FastAPI

from services.metrics.instruments import render_domain_metrics
from services.metrics.projections import project_assigned, project_received
from shared.events import ALL_TOPICS, TOPIC_ASSIGNED, TOPIC_RECEIVED
from shared.logging import configure_logging
from shared.runtime import Runtime, serve, service_app
from shared.settings import HttpSettings, ServiceSettings

SERVICE = "metrics"


class MetricsSettings(ServiceSettings):
    """Everything the metrics service reads from the environment."""

    http: HttpSettings = HttpSettings(port=8084)


def create_app(settings: MetricsSettings) -> FastAPI:
    """Wire the metrics service."""
    runtime = Runtime(settings, service=SERVICE, migrations="services.metrics.migrations", topics=ALL_TOPICS)
    runtime.subscribe(TOPIC_RECEIVED, project_received)
    runtime.subscribe(TOPIC_ASSIGNED, project_assigned)
    return service_app(SERVICE, runtime, extra_metrics=lambda: render_domain_metrics(runtime.pool))


def main() -> None:
    """Run the metrics service until SIGTERM."""
    settings = MetricsSettings()
    configure_logging(SERVICE, settings.log.level)
    serve(create_app(settings), settings.http)


if __name__ == "__main__":
    main()
