"""Composition root of the notifications service."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from services.notifications.email import SmtpSender, SmtpSettings
from services.notifications.handlers import NotificationContext, on_assigned
from services.notifications.instruments import render_delivery_metrics
from services.notifications.worker import DeliveryWorker, WorkerSettings
from shared import db
from shared.db import Conn
from shared.events import TOPIC_ASSIGNED, TOPIC_DEADLETTER, TOPIC_NOTIFICATIONS, Envelope
from shared.logging import configure_logging
from shared.runtime import Runtime, serve, service_app
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

    def start_worker() -> None:
        worker = DeliveryWorker(
            runtime.pool,
            SmtpSender(settings.smtp),
            ctx,
            settings.worker,
            connect=lambda: db.connect(settings.database, SERVICE),
        )
        runtime.run_in_background("delivery-worker", worker.run)

    return service_app(
        SERVICE, runtime, on_start=start_worker, extra_metrics=lambda: render_delivery_metrics(runtime.pool)
    )


def main() -> None:
    """Run the notifications service until SIGTERM."""
    settings = NotificationSettings()
    configure_logging(SERVICE, settings.log.level)
    serve(create_app(settings), settings.http)


if __name__ == "__main__":
    main()
