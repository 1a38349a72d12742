"""Composition root of the metrics service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from services.metrics.instruments import render_domain_metrics
from services.metrics.projections import project_assigned, project_received
from shared.events import ALL_TOPICS, TOPIC_ASSIGNED, TOPIC_RECEIVED
from shared.http import health_router
from shared.logging import configure_logging
from shared.runtime import Runtime
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

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title="referral-router metrics", version="1", lifespan=lifespan)
    app.include_router(
        health_router(runtime.readiness_checks(), extra_metrics=lambda: render_domain_metrics(runtime.pool))
    )
    return app


def main() -> None:
    """Run the metrics service until SIGTERM."""
    settings = MetricsSettings()
    configure_logging(SERVICE, settings.log.level)
    uvicorn.run(create_app(settings), host=settings.http.host, port=settings.http.port, log_config=None)


if __name__ == "__main__":
    main()
