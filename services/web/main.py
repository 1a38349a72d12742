"""Composition root of the web app: settings → OpenID client, staff API, session store → app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.web import auth, ops, pages, workenv_pages
from services.web.adapters.http_staff_api import HttpStaffApi
from services.web.adapters.memory import MemorySessionStore
from services.web.adapters.oidc import OidcClient, OidcConfig
from services.web.context import WebContext, render
from services.web.ports import (
    SessionStore,
    StaffApi,
    UpstreamDenied,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from services.web.security import CsrfRejected, SessionPolicy, SignInRequired, session_middleware
from shared.clock import Clock, SystemClock
from shared.logging import configure_logging
from shared.runtime import serve
from shared.settings import HttpSettings, LogSettings
from shared.unit_config import UnitConfig, load_unit_config

SERVICE = "web"
READINESS_TIMEOUT_S = 2.0  # under the readiness probe's 3 s, so a hung upstream is reported by name
log = logging.getLogger(__name__)


class OidcSettings(BaseModel):
    """`OIDC__…`: the identity provider and which claims name the staff id and roles."""

    issuer: str = "http://127.0.0.1:8090"
    client_id: str = "referral-router-web"
    client_secret: SecretStr = SecretStr("")
    redirect_url: str = "http://127.0.0.1:8085/auth/callback"
    scope: str = "openid"
    staff_id_claim: str = "sub"
    roles_claim: str = "roles"
    # What the web app sends to the staff APIs: the access token (a JWT for the APIs' audience
    # at Entra ID or Keycloak) or, where the provider's access tokens are opaque (the dev
    # provider), the ID token, whose audience the APIs are then configured to accept.
    upstream_token: Literal["access_token", "id_token"] = "access_token"  # noqa: S105 - a token kind


class UpstreamSettings(BaseModel):
    """`UPSTREAM__…`: where the staff APIs are."""

    assignment_url: str = "http://127.0.0.1:8082"
    intake_url: str = "http://127.0.0.1:8081"
    timeout_s: float = Field(default=10.0, gt=0)


class SessionSettings(BaseModel):
    """`SESSION__…`: how long an idle session lives and whether cookies need HTTPS."""

    idle_minutes: int = Field(default=30, ge=1, le=480)
    # Secure cookies and HSTS; turned off only by the dev stack, which serves plain HTTP on 127.0.0.1.
    https_only: bool = True


class WebSettings(BaseSettings):
    """Everything the web app reads from the environment."""

    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="ignore", frozen=True, env_prefix="")

    http: HttpSettings = HttpSettings(port=8085)
    log: LogSettings = LogSettings()
    oidc: OidcSettings = OidcSettings()
    upstream: UpstreamSettings = UpstreamSettings()
    session: SessionSettings = SessionSettings()
    unit_config_path: Path = Path("deploy/config/unit.example.yaml")


def create_app(
    settings: WebSettings,
    staff_api: StaffApi | None = None,
    sessions: SessionStore | None = None,
    clock: Clock | None = None,
    readiness: Mapping[str, ops.Check] | None = None,
) -> FastAPI:
    """Wire the web app; fakes for the staff API, sessions and readiness checks may be passed in."""
    clients: list[httpx.AsyncClient] = []

    def client(base_url: str = "") -> httpx.AsyncClient:
        made = httpx.AsyncClient(base_url=base_url, timeout=settings.upstream.timeout_s)
        clients.append(made)
        return made

    if staff_api is None:
        staff_api = HttpStaffApi(
            client(settings.upstream.assignment_url), client(settings.upstream.intake_url)
        )
    o = settings.oidc
    unit = load_unit_config(settings.unit_config_path)
    oidc_config = OidcConfig(
        o.issuer, o.client_id, o.client_secret.get_secret_value(), o.redirect_url, o.scope
    )
    context = WebContext(
        api=staff_api,
        sessions=sessions
        or MemorySessionStore(forget_after=timedelta(minutes=settings.session.idle_minutes)),
        oidc=OidcClient(oidc_config, client()),
        clock=clock or SystemClock(),
        managed_teams=managed_teams(unit),
        staff_id_claim=o.staff_id_claim,
        roles_claim=o.roles_claim,
        upstream_token=o.upstream_token,
    )

    if readiness is None:
        probe = client()
        probe.timeout = httpx.Timeout(min(settings.upstream.timeout_s, READINESS_TIMEOUT_S))
        readiness = {
            "intake": ops.http_ok(probe, settings.upstream.intake_url.rstrip("/") + "/healthz"),
            "assignment": ops.http_ok(probe, settings.upstream.assignment_url.rstrip("/") + "/healthz"),
            "oidc_provider": ops.provider_metadata(probe, o.issuer),
        }

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        for made in clients:
            await made.aclose()

    app = FastAPI(
        title="referral-router web", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.web = context
    policy = SessionPolicy(timedelta(minutes=settings.session.idle_minutes), settings.session.https_only)
    app.state.idle_timeout = policy.idle_timeout
    app.middleware("http")(session_middleware(context.sessions, context.clock, policy))
    app.middleware("http")(ops.metrics_middleware(context.metrics))  # outermost: counts every answer
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.include_router(auth.router)
    app.include_router(workenv_pages.router)  # before pages: /referrals/{id}/safety-flag is its own route
    app.include_router(pages.router)
    app.add_api_route("/healthz", _healthz, methods=["GET"])
    app.include_router(ops.ops_router(readiness))
    _add_error_pages(app)
    return app


def managed_teams(config: UnitConfig) -> dict[str, frozenset[str]]:
    """Each manager's staff id → the teams they manage (their team board)."""
    managed: dict[str, frozenset[str]] = {}
    for team in config.teams:
        managed[team.manager.id] = managed.get(team.manager.id, frozenset()) | {team.id}
    return managed


async def _healthz() -> PlainTextResponse:
    return PlainTextResponse("ok")


def _add_error_pages(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def sign_in(request: Request, exc: SignInRequired) -> Any:
        target = "/login?" + httpx.QueryParams({"next": exc.return_to}).__str__()
        if request.headers.get("HX-Request"):
            return PlainTextResponse("", status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(UpstreamUnauthorized)
    async def token_refused(request: Request, exc: UpstreamUnauthorized) -> Any:
        request.state.session.user = None
        request.state.session.token = None
        return await sign_in(request, SignInRequired(request.url.path))

    @app.exception_handler(UpstreamDenied)
    async def denied(request: Request, exc: UpstreamDenied) -> Any:
        return render(request, "forbidden.html", 403)

    @app.exception_handler(CsrfRejected)
    async def csrf(request: Request, exc: CsrfRejected) -> Any:
        return render(request, "error.html", 403, title_key="csrf_title", message_key="csrf_text")

    @app.exception_handler(UpstreamUnavailable)
    async def unavailable(request: Request, exc: UpstreamUnavailable) -> Any:
        log.warning("a staff API is unavailable: %s", exc)
        return render(request, "error.html", 503, message_key="upstream_unavailable")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Any:
        title = "not_found_title" if exc.status_code == 404 else "error_title"
        return render(request, "error.html", exc.status_code, title_key=title, message_key=title)


def main() -> None:
    """Run the web app until SIGTERM."""
    settings = WebSettings()
    configure_logging(SERVICE, settings.log.level)
    serve(create_app(settings), settings.http)


if __name__ == "__main__":
    main()
