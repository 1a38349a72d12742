"""Composition root of the assignment service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from services.assignment.api import rotation_router
from services.assignment.api_cases import referrals_router
from services.assignment.auth import ApiProblem, AuthSettings, TokenVerifier, authenticator
from services.assignment.handlers import AssignmentContext, assign_referral, assign_run
from services.assignment.scheduler import Scheduler
from shared.clock import Clock, SystemClock
from shared.db import Conn
from shared.events import ALL_TOPICS, TOPIC_RECEIVED, Envelope
from shared.http import problem, validation_errors
from shared.logging import configure_logging
from shared.runtime import Runtime, serve, service_app
from shared.settings import HttpSettings, ServiceSettings
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
        settings, service=SERVICE, migrations="services.assignment.migrations", topics=ALL_TOPICS
    )

    async def on_received(conn: Conn, event: Envelope[Any]) -> None:
        await assign_referral(conn, event, ctx)

    async def on_received_run(conn: Conn, events: Sequence[Envelope[Any]]) -> None:
        await assign_run(conn, events, ctx)

    runtime.subscribe(TOPIC_RECEIVED, on_received, run_handler=on_received_run)

    def start_scheduler() -> None:
        scheduler = Scheduler(runtime.pool, ctx, clock)
        runtime.run_in_background("scheduler", lambda: scheduler.run(config.deadlines.scan_interval_s))

    auth = authenticator(TokenVerifier(settings.auth))
    routers = [
        rotation_router(ctx, lambda: runtime.pool, auth, clock),
        referrals_router(ctx, lambda: runtime.pool, auth, clock),
    ]
    app = service_app(SERVICE, runtime, routers=routers, on_start=start_scheduler)
    add_problem_handlers(app)
    return app


def add_problem_handlers(app: FastAPI) -> None:
    """Every error as RFC 9457 problem details; validation errors list fields, never input values."""

    async def on_problem(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiProblem)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem(exc.status, exc.title, detail=exc.detail, headers=headers)

    async def on_invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem(422, "Invalid request", errors=validation_errors(list(exc.errors())))

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return problem(exc.status_code, str(exc.detail), headers=exc.headers)

    app.add_exception_handler(ApiProblem, on_problem)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(HTTPException, on_http)


def main() -> None:
    """Run the assignment service until SIGTERM."""
    settings = AssignmentSettings()
    configure_logging(SERVICE, settings.log.level)
    serve(create_app(settings), settings.http)


if __name__ == "__main__":
    main()
