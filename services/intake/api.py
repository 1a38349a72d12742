"""The portal API: `POST /v1/referrals` (CONTRACTS.md §2)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

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

_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "Stored durably; one referral per child."},
    200: {"description": "Same submission_id and identical body again: the original answer."},
    401: {"description": "Authentication failed; nothing stored."},
    409: {"description": "Same submission_id with a different body."},
    413: {"description": "Body over 256 KiB."},
    415: {"description": "Not application/json."},
    422: {"description": "Invalid body; every error listed with its field path."},
    503: {"description": "Database unavailable; retry after the Retry-After header."},
}


def portal_router(
    runtime: Runtime, clients: Callable[[], Any], keys: IntakeSecrets, clock: Clock
) -> APIRouter:
    """Routes of the portal API, bound to the service's runtime, secrets and clock."""
    router = APIRouter()

    @router.post(
        "/v1/referrals",
        status_code=202,
        responses=_RESPONSES,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": Submission.model_json_schema()}},
            }
        },
    )
    async def post_referral(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return problem(415, "Unsupported media type", detail="send application/json")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
            return problem(413, "Body too large", detail="the limit is 256 KiB")
        raw = await request.body()
        if len(raw) > MAX_BODY:
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
            return problem(422, "Invalid referral", errors=validation_errors(exc.errors()))
        return await _store(runtime, submission, raw, client_id, keys)

    return router


async def _store(
    runtime: Runtime, submission: Submission, raw: bytes, client_id: str, keys: IntakeSecrets
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
