"""Health, readiness and /metrics endpoints every service serves (CONTRACTS.md §1)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

Check = Callable[[], Awaitable[None]]


def health_router(
    checks: Mapping[str, Check],
    extra_metrics: Callable[[], Awaitable[bytes]] | None = None,
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
        if failed:
            return JSONResponse({"status": "unavailable", "failed": failed}, status_code=503)
        return JSONResponse({"status": "ready"})

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
