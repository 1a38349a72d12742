"""Composition root of the assignment service: settings → unit, adapters → runtime and app."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import FastAPI
from pydantic import AnyHttpUrl

from services.assignment import api, subscribers, timers
from services.assignment.adapters.postgres import PostgresAssignmentUnitOfWork
from services.assignment.domain.incidents import Quarter, Summary
from services.assignment.domain.outcome import OutcomeReport, check_period
from services.assignment.handlers.incidents import quarter_summary
from services.assignment.handlers.outcome import build_outcome_report
from services.assignment.unit_from_config import unit_from_config
from shared import db
from shared.clock import Clock
from shared.events import ALL_TOPICS
from shared.logging import configure_logging
from shared.runtime import Runtime, serve, service_app
from shared.settings import HttpSettings, ServiceSettings
from shared.staff_auth import AuthSettings, TokenVerifier, authenticator
from shared.unit_config import load_unit_config

SERVICE = "assignment"


class AssignmentSettings(ServiceSettings):
    """Everything assignment reads from the environment."""

    http: HttpSettings = HttpSettings(port=8082)
    auth: AuthSettings = AuthSettings()
    # The base URL staff reach this service's API at; calendar subscription links start with it.
    public_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8082")


def create_app(settings: AssignmentSettings, clock: Clock | None = None) -> FastAPI:
    """Wire the assignment service; the unit config is validated here, before anything starts."""
    config = load_unit_config(settings.unit_config_path)
    unit = unit_from_config(config)
    clock = clock or settings.dev_clock.clock()
    runtime = Runtime(
        settings,
        service=SERVICE,
        migrations="services.assignment.migrations",
        topics=ALL_TOPICS,
        unit_of_work=PostgresAssignmentUnitOfWork,
    )
    subscribers.subscribe(runtime, unit)

    def start_timers() -> None:
        scan = timers.scan_for_scheduled_events
        interval = config.deadlines.scan_interval_s
        runtime.run_in_background(
            "scheduled-events", lambda: scan(runtime.unit_of_work, unit, clock, interval)
        )
        escalate = timers.scan_for_overload_escalations
        every = config.working_environment.overload.scan_interval_s
        runtime.run_in_background(
            "overload-escalations", lambda: escalate(runtime.unit_of_work, clock, every)
        )
        runtime.run_in_background(
            "outcome-metrics", lambda: timers.refresh_outcome_metrics(runtime.unit_of_work, unit, clock)
        )

    app = service_app(SERVICE, runtime, routers=api.ROUTERS, on_start=start_timers)
    authenticate = authenticator(TokenVerifier(settings.auth, [p.id for p in config.all_people()]))
    app.state.assignment = api.AssignmentApi(
        unit, runtime.unit_of_work, clock, authenticate, public_url=str(settings.public_url)
    )
    api.add_domain_problem_handlers(app)
    return app


async def incidents_summary(settings: ServiceSettings, quarter: Quarter, team: str | None) -> Summary:
    """`referral-router incidents-summary`'s work: the quarter's counts from assignment's
    database (whoever holds its credentials sees every team)."""
    pool = await db.create_pool(settings.database, SERVICE)
    try:
        return await quarter_summary(PostgresAssignmentUnitOfWork(pool), None, None, quarter, team)
    finally:
        await pool.close()


async def outcome_report_from_database(
    settings: AssignmentSettings, start: date, end: date, change_date: date | None, now: datetime
) -> OutcomeReport:
    """`referral-router report`'s work: the outcome report from assignment's database, with the
    unit file's people (InvalidReportPeriod before connecting when the dates cannot be used)."""
    check_period(start, end, change_date)
    unit = unit_from_config(load_unit_config(settings.unit_config_path))
    pool = await db.create_pool(settings.database, SERVICE)
    try:
        return await build_outcome_report(
            PostgresAssignmentUnitOfWork(pool), unit, start, end, change_date, now
        )
    finally:
        await pool.close()


def main() -> None:
    """Run the assignment service until SIGTERM."""
    settings = AssignmentSettings()
    configure_logging(SERVICE, settings.log.level)
    serve(create_app(settings), settings.http)


if __name__ == "__main__":
    main()
