"""Health, readiness and /metrics endpoints every service serves (CONTRACTS.md §1)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.db import TRANSIENT_DB_ERRORS

log = logging.getLogger(__name__)
Check = Callable[[], Awaitable[None]]
RETRY_AFTER_S = "5"


class FieldError(BaseModel):
    """One invalid field: where it is (`loc`) and what is wrong (`msg`), never its value."""

    loc: list[str | int]
    msg: str


class ProblemDetails(BaseModel):
    """An error as RFC 9457 problem details (`application/problem+json`)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] | None = None


_PROBLEM_MEANINGS = {
    401: "No valid bearer token (or signature).",
    403: "Not allowed: the role, or the relation to this referral, does not permit it.",
    404: "Not found.",
    409: "Conflicts with the current state.",
    410: "Gone: the referral's received copy was erased by the retention rules (when, by which rule).",
    413: "Body too large.",
    415: "Not application/json.",
    422: "Invalid input; `errors` lists the fields (never their values).",
    503: "Storage unavailable; retry after `Retry-After` seconds.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the errors a route can answer, each as problem details."""
    schema = {"$ref": "#/components/schemas/ProblemDetails"}
    return {
        status: {
            "model": ProblemDetails,
            "description": _PROBLEM_MEANINGS[status],
            "content": {"application/problem+json": {"schema": schema}},
        }
        for status in statuses
    }


class ApiProblem(Exception):
    """An error the HTTP edge answers as RFC 9457 problem details (never raised by a use case)."""

    def __init__(
        self, status: int, title: str, detail: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(title)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers


def health_router(
    checks: Mapping[str, Check],
    extra_metrics: Callable[[], Awaitable[bytes]] | None = None,
    details: Callable[[], Mapping[str, object]] | None = None,
) -> APIRouter:
    """Routes for /healthz (alive), /readyz (every check passes) and /metrics."""
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> Response:
        failed: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await check()
            except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported
                failed[name] = type(exc).__name__
        shown = dict(details()) if details is not None else {}
        if failed:
            return JSONResponse({"status": "unavailable", "failed": failed, **shown}, status_code=503)
        return JSONResponse({"status": "ready", **shown})

    @router.get("/metrics")
    async def prometheus_metrics() -> Response:
        body = generate_latest()
        if extra_metrics is not None:
            body += await extra_metrics()
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router


def problem(
    status: int,
    title: str,
    *,
    detail: str | None = None,
    errors: list[dict[str, object]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An RFC 9457 problem details response; `errors` lists `{"loc": [...], "msg": ...}`."""
    body: dict[str, object] = {"type": "about:blank", "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=dict(headers or {})
    )


def validation_errors(errors: list[Any]) -> list[dict[str, object]]:
    """Pydantic errors as `{"loc", "msg"}` without the offending input, which may be personal."""
    return [{"loc": list(e["loc"]), "msg": e["msg"]} for e in errors]


async def _on_problem(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    headers = dict(exc.headers or {})
    if exc.status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return problem(exc.status, exc.title, detail=exc.detail, headers=headers)


async def _on_invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem(422, "Invalid request", errors=validation_errors(list(exc.errors())))


async def _on_http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return problem(exc.status_code, str(exc.detail), headers=exc.headers)


async def _on_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable, answering 503", extra={"error": type(exc).__name__})
    return problem(
        503, "Service unavailable", detail="storage is unavailable; retry later",
        headers={"Retry-After": RETRY_AFTER_S},
    )  # fmt: skip


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The exception's message and traceback may echo input: only its type is logged.
    log.error("unexpected error", extra={"error": type(exc).__name__, "path": request.url.path})
    # Starlette answers this outside every middleware, so the headers are set here.
    headers = {n.decode(): v.decode() for n, v in (*SECURITY_HEADERS, CONTENT_SECURITY_POLICY)}
    return problem(500, "Internal error", detail="the request could not be completed", headers=headers)


def add_problem_handlers(app: FastAPI) -> None:
    """Every error as RFC 9457 problem details, never a plain-text page; no input is echoed."""
    app.add_exception_handler(ApiProblem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_invalid)
    app.add_exception_handler(HTTPException, _on_http)
    for unavailable in TRANSIENT_DB_ERRORS:
        if issubclass(unavailable, Exception):
            app.add_exception_handler(unavailable, _on_unavailable)
    app.add_exception_handler(Exception, _on_unexpected)


# Every response: no sniffing of content types, nothing kept in caches (answers may be about
# referrals), never framed, no referrer leaving with a link. The interactive API docs (dev only)
# load their own scripts, so they get no content security policy.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
CONTENT_SECURITY_POLICY = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc")


class SecurityHeaders:
    """ASGI middleware that adds `SECURITY_HEADERS` to every HTTP response (cheaper than
    Starlette's BaseHTTPMiddleware, which wraps every body in a stream)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        extra = list(SECURITY_HEADERS)
        if not str(scope.get("path", "")).startswith(DOCS_PATHS):
            extra.append(CONTENT_SECURITY_POLICY)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((n, v) for n, v in extra if n not in names),
                ]
            await send(message)

        await self._app(scope, receive, with_headers)
