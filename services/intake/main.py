"""Composition root of the intake service."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel, SecretStr

from services.intake.api import portal_router
from services.intake.handlers import IntakeSecrets
from shared.clock import Clock, SystemClock
from shared.crypto import Cipher, decode_key
from shared.events import TOPIC_DEADLETTER, TOPIC_RECEIVED
from shared.logging import configure_logging
from shared.runtime import Runtime, serve, service_app
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

    portal = portal_router(runtime, lambda: settings.portal.clients, build_secrets(settings.crypto), clock)
    return service_app(SERVICE, runtime, routers=[portal])


def main() -> None:
    """Run the intake service until SIGTERM."""
    settings = IntakeSettings()
    configure_logging(SERVICE, settings.log.level)
    serve(create_app(settings, SystemClock()), settings.http)


if __name__ == "__main__":
    main()
