"""/readyz and /metrics of the web app (CONTRACTS.md §1), and the middleware that counts requests.

Ready means the web app can do its work: intake's and assignment's `/healthz` answer 200 and the
OpenID provider's metadata can be read. Each failure is named in the 503's JSON by its check and
error class, never with a URL's query, a token or anything else a user sent.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from services.web.context import web
from services.web.telemetry import UNMATCHED, WebMetrics

Check = Callable[[], Awaitable[None]]
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class NotReady(Exception):
    """An upstream answered, but not as a ready one does (the message says how)."""


def http_ok(client: httpx.AsyncClient, url: str) -> Check:
    """A check that GETs `url` and wants a 200."""

    async def check() -> None:
        answer = await client.get(url)
        if answer.status_code != 200:
            raise NotReady(f"status {answer.status_code}")

    return check


def provider_metadata(client: httpx.AsyncClient, issuer: str) -> Check:
    """A check that reads the provider's discovery document afresh and wants its endpoints."""

    async def check() -> None:
        answer = await client.get(issuer.rstrip("/") + "/.well-known/openid-configuration")
        if answer.status_code != 200:
            raise NotReady(f"status {answer.status_code}")
        missing = {"authorization_endpoint", "token_endpoint", "jwks_uri"} - set(answer.json())
        if missing:
            raise NotReady("metadata without " + ", ".join(sorted(missing)))

    return check


def ops_router(checks: Mapping[str, Check]) -> APIRouter:
    """GET /readyz (every check passes, else 503 naming the failed ones) and GET /metrics."""
    router = APIRouter(include_in_schema=False)

    @router.get("/readyz")
    async def readyz() -> Response:
        failed: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await check()
            except NotReady as exc:
                failed[name] = f"NotReady: {exc}"
            except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported by class
                failed[name] = type(exc).__name__
        if failed:
            return JSONResponse({"status": "unavailable", "failed": failed}, status_code=503)
        return JSONResponse({"status": "ready", "checked": sorted(checks)})

    @router.get("/metrics")
    async def metrics(request: Request) -> Response:
        context = web(request)
        idle = request.app.state.idle_timeout
        active = await context.sessions.signed_in_since(context.clock.now() - idle)
        return Response(context.metrics.exposition(active), media_type=CONTENT_TYPE_LATEST)

    return router


def route_template(request: Request) -> str:
    """The matched route's template (`/referrals/{referral_id}`), `/static` for files, else UNMATCHED."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return "/static" if request.url.path.startswith("/static/") else UNMATCHED


def metrics_middleware(
    metrics: WebMetrics,
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """Count every request by route template, method and status, and time it."""

    async def middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            method = request.method if request.method in METHODS else "other"
            metrics.observe(route_template(request), method, status, time.perf_counter() - started)

    return middleware
