"""Composition root of the notifications service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from fastapi import FastAPI

from services.notifications.email import SmtpSender, SmtpSettings
from services.notifications.handlers import NotificationContext, on_assigned
from services.notifications.worker import DeliveryWorker, WorkerSettings
from shared import db
from shared.db import Conn
from shared.events import TOPIC_ASSIGNED, TOPIC_DEADLETTER, TOPIC_NOTIFICATIONS, Envelope
from shared.http import health_router
from shared.logging import configure_logging
from shared.runtime import Runtime
from shared.settings import HttpSettings, ServiceSettings
from shared.unit_config import load_unit_config

SERVICE = "notifications"


class NotificationSettings(ServiceSettings):
    """Everything notifications reads from the environment."""

    http: HttpSettings = HttpSettings(port=8083)
    smtp: SmtpSettings = SmtpSettings()
    worker: WorkerSettings = WorkerSettings()


def create_app(settings: NotificationSettings) -> FastAPI:
    """Wire the notifications service; the unit config is validated before anything starts."""
    config = load_unit_config(settings.unit_config_path)
    ctx = NotificationContext(config, ZoneInfo(config.rotation.timezone))
    runtime = Runtime(
        settings,
        service=SERVICE,
        migrations="services.notifications.migrations",
        topics=(TOPIC_ASSIGNED, TOPIC_NOTIFICATIONS, TOPIC_DEADLETTER),
    )

    async def handle_assigned(conn: Conn, event: Envelope[Any]) -> None:
        await on_assigned(conn, event, ctx)

    runtime.subscribe(TOPIC_ASSIGNED, handle_assigned)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        worker = DeliveryWorker(
            runtime.pool,
            SmtpSender(settings.smtp),
            ctx,
            settings.worker,
            connect=lambda: db.connect(settings.database, SERVICE),
        )
        runtime.run_in_background("delivery-worker", worker.run)
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title="referral-router notifications", version="1", lifespan=lifespan)
    app.include_router(health_router(runtime.readiness_checks()))
    return app


def main() -> None:
    """Run the notifications service until SIGTERM."""
    settings = NotificationSettings()
    configure_logging(SERVICE, settings.log.level)
    uvicorn.run(create_app(settings), host=settings.http.host, port=settings.http.port, log_config=None)


if __name__ == "__main__":
    main()
