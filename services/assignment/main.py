"""Composition root of the assignment service."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.assignment.handlers import AssignmentContext, assign_referral
from services.assignment.unit_config import office_calendar, rotation_plan
from shared.db import Conn
from shared.events import ALL_TOPICS, TOPIC_RECEIVED, Envelope
from shared.logging import configure_logging
from shared.runtime import Runtime, serve, service_app
from shared.settings import HttpSettings, ServiceSettings
from shared.unit_config import load_unit_config

SERVICE = "assignment"


class AssignmentSettings(ServiceSettings):
    """Everything assignment reads from the environment."""

    http: HttpSettings = HttpSettings(port=8082)


def create_app(settings: AssignmentSettings) -> FastAPI:
    """Wire the assignment service; the unit config is validated here, before anything starts."""
    config = load_unit_config(settings.unit_config_path)
    plan, tz = rotation_plan(config)
    ctx = AssignmentContext(config, plan, office_calendar(config), tz)
    runtime = Runtime(
        settings, service=SERVICE, migrations="services.assignment.migrations", topics=ALL_TOPICS
    )

    async def on_received(conn: Conn, event: Envelope[Any]) -> None:
        await assign_referral(conn, event, ctx)

    runtime.subscribe(TOPIC_RECEIVED, on_received)
    return service_app(SERVICE, runtime)


def main() -> None:
    """Run the assignment service until SIGTERM."""
    settings = AssignmentSettings()
    configure_logging(SERVICE, settings.log.level)
    serve(create_app(settings), settings.http)


if __name__ == "__main__":
    main()
