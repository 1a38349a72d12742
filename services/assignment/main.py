"""Composition root of the assignment service."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from services.assignment.api import rotation_router
from services.assignment.api_cases import referrals_router
from services.assignment.handlers import AssignmentContext, assign_run
from services.assignment.scheduler import Scheduler
from shared.clock import Clock, SystemClock
from shared.events import ALL_TOPICS, TOPIC_RECEIVED, Envelope, ReferralReceived
from shared.logging import configure_logging
from shared.postgres import PostgresUnitOfWork
from shared.runtime import Runtime, serve, service_app
from shared.settings import HttpSettings, ServiceSettings
from shared.staff_auth import AuthSettings, TokenVerifier, authenticator
from shared.unit_config import load_unit_config

SERVICE = "assignment"


class AssignmentSettings(ServiceSettings):
    """Everything assignment reads from the environment."""

    http: HttpSettings = HttpSettings(port=8082)
    auth: AuthSettings = AuthSettings()


def create_app(settings: AssignmentSettings, clock: Clock | None = None) -> FastAPI:
    """Wire the assignment service; the unit config is validated here, before anything starts."""
    config = load_unit_config(settings.unit_config_path)
    ctx = AssignmentContext.from_config(config)
    clock = clock or SystemClock()
    runtime = Runtime(
        settings,
        service=SERVICE,
        migrations="services.assignment.migrations",
        topics=ALL_TOPICS,
        unit_of_work=PostgresUnitOfWork,
    )

    async def on_received(uow: PostgresUnitOfWork, events: Sequence[Envelope[ReferralReceived]]) -> None:
        await assign_run(uow.conn, events, ctx)

    runtime.subscribe(TOPIC_RECEIVED, ReferralReceived, on_received)

    def start_scheduler() -> None:
        scheduler = Scheduler(runtime.pool, ctx, clock)
        runtime.run_in_background("scheduler", lambda: scheduler.run(config.deadlines.scan_interval_s))

    auth = authenticator(TokenVerifier(settings.auth, [p.id for p in config.all_people()]))
    routers = [
        rotation_router(ctx, lambda: runtime.pool, auth, clock),
        referrals_router(ctx, lambda: runtime.pool, auth, clock),
    ]
    return service_app(SERVICE, runtime, routers=routers, on_start=start_scheduler)


def main() -> None:
    """Run the assignment service until SIGTERM."""
    settings = AssignmentSettings()
    configure_logging(SERVICE, settings.log.level)
    serve(create_app(settings), settings.http)


if __name__ == "__main__":
    main()
