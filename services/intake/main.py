"""Composition root of the intake service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, SecretStr

from services.intake.api import portal_router
from services.intake.handlers import IntakeSecrets
from shared.clock import Clock, SystemClock
from shared.crypto import Cipher, decode_key
from shared.events import TOPIC_DEADLETTER, TOPIC_RECEIVED
from shared.http import health_router
from shared.logging import configure_logging
from shared.runtime import Runtime
from shared.settings import HttpSettings, ServiceSettings

SERVICE = "intake"


class PortalSettings(BaseModel):
    """Portal clients and their shared secrets (`PORTAL__CLIENTS` as JSON)."""

    clients: dict[str, list[SecretStr]] = {}


class CryptoSettings(BaseModel):
    """Keys for personal details at rest and the pepper for pseudonymous keys (`CRYPTO__…`)."""

    keys: dict[str, SecretStr]
    current_key: str
    pepper: SecretStr


class IntakeSettings(ServiceSettings):
    """Everything intake reads from the environment."""

    http: HttpSettings = HttpSettings(port=8081)
    portal: PortalSettings = PortalSettings()
    crypto: CryptoSettings


def build_secrets(settings: CryptoSettings) -> IntakeSecrets:
    """The cipher and pepper from configuration; fails clearly on a bad key."""
    keys = {k: decode_key(v.get_secret_value()) for k, v in settings.keys.items()}
    return IntakeSecrets(Cipher(keys, settings.current_key), settings.pepper.get_secret_value().encode())


def create_app(settings: IntakeSettings, clock: Clock) -> FastAPI:
    """Wire the intake service from its settings and clock."""
    runtime = Runtime(
        settings,
        service=SERVICE,
        migrations="services.intake.migrations",
        topics=(TOPIC_RECEIVED, TOPIC_DEADLETTER),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title="referral-router intake", version="1", lifespan=lifespan)
    app.include_router(health_router(runtime.readiness_checks()))
    app.include_router(
        portal_router(runtime, lambda: settings.portal.clients, build_secrets(settings.crypto), clock)
    )
    return app


def main() -> None:
    """Run the intake service until SIGTERM."""
    settings = IntakeSettings()
    configure_logging(SERVICE, settings.log.level)
    app = create_app(settings, SystemClock())
    uvicorn.run(app, host=settings.http.host, port=settings.http.port, log_config=None)


if __name__ == "__main__":
    main()
