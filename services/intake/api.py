"""The portal API: `POST /v1/referrals` (CONTRACTS.md §2)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from services.intake.api_docs import DESCRIPTION, REQUEST_EXAMPLES, RESPONSES
from services.intake.auth import AuthenticationFailed, verify
from services.intake.handlers import IntakeSecrets, SubmissionConflict, receive_submission
from services.intake.schemas import Submission, validation_context
from shared.clock import Clock
from shared.db import TRANSIENT_DB_ERRORS
from shared.http import problem, validation_errors
from shared.runtime import Runtime

log = logging.getLogger(__name__)
MAX_BODY = 256 * 1024
RETRY_AFTER_S = "5"


def portal_router(
    runtime: Runtime[Any], clients: Callable[[], Any], keys: IntakeSecrets, clock: Clock
) -> APIRouter:
    """Routes of the portal API, bound to the service's runtime, secrets and clock."""
    router = APIRouter()

    @router.post(
        "/v1/referrals",
        status_code=202,
        responses=RESPONSES,
        summary="Submit one e-service form (report or application)",
        description=DESCRIPTION,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/Submission"},
                        "examples": REQUEST_EXAMPLES,
                    }
                },
            }
        },
    )
    async def post_referral(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return problem(415, "Unsupported media type", detail="send application/json")
        raw = await _read_limited(request)
        if raw is None:
            return problem(413, "Body too large", detail="the limit is 256 KiB")
        try:
            client_id = verify(
                clients(),
                request.headers.get("x-client-id"),
                request.headers.get("x-signature"),
                raw,
                clock.now().timestamp(),
            )
        except AuthenticationFailed as exc:
            return problem(401, "Authentication failed", detail=str(exc))
        try:
            submission = Submission.model_validate_json(raw, context=validation_context(clock.now()))
        except ValidationError as exc:
            return problem(422, "Invalid referral", errors=readable_errors(exc))
        return await _store(runtime, submission, raw, client_id, keys)

    return router


async def _store(
    runtime: Runtime[Any], submission: Submission, raw: bytes, client_id: str, keys: IntakeSecrets
) -> Response:
    try:
        async with runtime.pool.acquire() as conn:
            status, body = await receive_submission(conn, submission, raw, client_id, keys)
    except SubmissionConflict:
        return problem(
            409,
            "Submission id already used",
            detail="this submission_id was stored earlier with a different body",
        )
    except TRANSIENT_DB_ERRORS as exc:
        log.warning("database unavailable, answering 503", extra={"error": type(exc).__name__})
        return problem(
            503,
            "Service unavailable",
            detail="storage is unavailable; retry later",
            headers={"Retry-After": RETRY_AFTER_S},
        )
    if status == 202:
        log.info(
            "submission stored",
            extra={"submission_id": submission.submission_id, "referrals": len(body["referrals"])},
        )
    return JSONResponse(body, status_code=status)


async def _read_limited(request: Request) -> bytes | None:
    """The body, or None as soon as it exceeds MAX_BODY (also for chunked bodies without a length)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def readable_errors(exc: ValidationError) -> list[dict[str, object]]:
    """Validation errors with field paths, without pydantic's "Value error, " prefix or the input."""
    found = exc.errors()
    # Pydantic also calls a list too short when its only items were invalid: that is noise here.
    failed_inside = {tuple(e["loc"][:i]) for e in found for i in range(1, len(e["loc"]))}
    errors = validation_errors(
        [e for e in found if not (e["type"] == "too_short" and tuple(e["loc"]) in failed_inside)]
    )
    for error in errors:
        error["msg"] = str(error["msg"]).removeprefix("Value error, ")
    return errors
