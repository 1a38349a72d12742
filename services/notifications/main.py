"""Composition root of the notifications service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from services.notifications.domain import OfficeHours
from services.notifications.email import SmtpSender, SmtpSettings
from services.notifications.handlers import on_run
from services.notifications.instruments import render_delivery_metrics
from services.notifications.ports import Sender
from services.notifications.routing import NotificationContext
from services.notifications.scheduler import run_escalations
from services.notifications.teams import TeamsSender, TeamsSettings
from services.notifications.worker import DeliveryWorker, WorkerSettings
from shared import db
from shared.clock import Clock, SystemClock
from shared.events import (
    TOPIC_ASSIGNED,
    TOPIC_DEADLETTER,
    TOPIC_DEADLINES,
    TOPIC_NOTIFICATIONS,
    TOPIC_RECEIVED,
    TOPIC_ROTATION,
    TOPIC_UPDATED,
    DeadlineEvent,
    Envelope,
    ReferralAssigned,
    ReferralReceived,
    ReferralUpdated,
    RotationHandover,
    WireModel,
)
from shared.logging import configure_logging
from shared.office_days import swedish_holidays
from shared.postgres import PostgresUnitOfWork
from shared.runtime import Runtime, serve, service_app
from shared.settings import HttpSettings, ServiceSettings
from shared.unit_config import UnitConfig, load_unit_config

SERVICE = "notifications"
CONSUMED: dict[str, type[WireModel]] = {
    TOPIC_RECEIVED: ReferralReceived,
    TOPIC_ASSIGNED: ReferralAssigned,
    TOPIC_UPDATED: ReferralUpdated,
    TOPIC_DEADLINES: DeadlineEvent,
    TOPIC_ROTATION: RotationHandover,
}


class NotificationSettings(ServiceSettings):
    """Everything notifications reads from the environment."""

    http: HttpSettings = HttpSettings(port=8083)
    smtp: SmtpSettings = SmtpSettings()
    teams: TeamsSettings = TeamsSettings()
    worker: WorkerSettings = WorkerSettings()


def notification_context(config: UnitConfig, clock: Clock) -> NotificationContext:
    """Time zone, office hours with the Swedish holiday calendar, and the clock."""
    tz = ZoneInfo(config.rotation.timezone)
    office = OfficeHours(config.office_hours.start, config.office_hours.end, tz, swedish_holidays())
    return NotificationContext(config, tz, office, clock)


def create_app(settings: NotificationSettings, clock: Clock | None = None) -> FastAPI:
    """Wire the notifications service; the unit config is validated before anything starts."""
    config = load_unit_config(settings.unit_config_path)
    ctx = notification_context(config, clock or SystemClock())
    runtime = Runtime(
        settings,
        service=SERVICE,
        migrations="services.notifications.migrations",
        topics=(*CONSUMED, TOPIC_NOTIFICATIONS, TOPIC_DEADLETTER),
        unit_of_work=PostgresUnitOfWork,
    )

    async def handle_run(uow: PostgresUnitOfWork, events: Sequence[Envelope[Any]]) -> None:
        await on_run(uow.conn, events, ctx)

    handler: Callable[[PostgresUnitOfWork, Sequence[Envelope[Any]]], Awaitable[None]] = handle_run
    for topic, model in CONSUMED.items():
        runtime.subscribe(topic, model, handler)

    def start_workers() -> None:
        senders: dict[str, Sender] = {
            "email": SmtpSender(settings.smtp),
            "teams": TeamsSender(settings.teams),
        }
        worker = DeliveryWorker(
            runtime.pool,
            senders,
            ctx,
            settings.worker,
            connect=lambda: db.connect(settings.database, SERVICE),
        )
        runtime.run_in_background("delivery-worker", worker.run)
        if config.notifications.escalation.enabled:
            runtime.run_in_background("escalations", lambda: run_escalations(runtime.pool, ctx))

    return service_app(
        SERVICE, runtime, on_start=start_workers, extra_metrics=lambda: render_delivery_metrics(runtime.pool)
    )


def main() -> None:
    """Run the notifications service until SIGTERM."""
    settings = NotificationSettings()
    configure_logging(SERVICE, settings.log.level)
    serve(create_app(settings), settings.http)


if __name__ == "__main__":
    main()
