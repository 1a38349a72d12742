"""Composition root of the metrics service."""

from __future__ import annotations

from fastapi import FastAPI

from services.metrics import subscribers
from services.metrics.adapters.postgres import PostgresMetricsUnitOfWork
from services.metrics.adapters.postgres_figures import PostgresFiguresReader
from services.metrics.domain.figures import Unit
from services.metrics.instruments import domain_metrics
from shared.events import ALL_TOPICS
from shared.logging import configure_logging
from shared.runtime import Runtime, serve, service_app
from shared.settings import HttpSettings, ServiceSettings
from shared.unit_config import UnitConfig, load_unit_config

SERVICE = "metrics"


class MetricsSettings(ServiceSettings):
    """Everything the metrics service reads from the environment."""

    http: HttpSettings = HttpSettings(port=8084)


def create_app(settings: MetricsSettings) -> FastAPI:
    """Wire the metrics service; the unit config is validated before anything starts."""
    runtime = Runtime(
        settings,
        service=SERVICE,
        migrations="services.metrics.migrations",
        topics=ALL_TOPICS,
        unit_of_work=PostgresMetricsUnitOfWork,
    )
    unit = unit_for_metrics(load_unit_config(settings.unit_config_path))
    subscribers.subscribe(runtime)
    return service_app(
        SERVICE, runtime, extra_metrics=lambda: domain_metrics(PostgresFiguresReader(runtime.pool), unit)
    )


def unit_for_metrics(config: UnitConfig) -> Unit:
    """Team ids and every caseworker's employment rate, the only parts of the unit metrics need."""
    return Unit(
        teams=tuple(t.id for t in config.teams),
        fte={
            t.id: {m.id: m.employment_rate for m in t.members if m.role == "caseworker"} for t in config.teams
        },
        hired={m.id: m.hire_date for t in config.teams for m in t.members if m.hire_date is not None},
    )


def main() -> None:
    """Run the metrics service until SIGTERM."""
    settings = MetricsSettings()
    configure_logging(SERVICE, settings.log.level)
    serve(create_app(settings), settings.http)


if __name__ == "__main__":
    main()
