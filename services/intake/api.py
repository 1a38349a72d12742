"""The portal API, `POST /v1/referrals` (CONTRACTS.md §2): the HTTP edge of receiving a submission.

Content type, size, signature and schema are checked here; the body is translated to the
domain's submission; the use case's answer and exceptions become 202, 200, 409 or 503.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import SecretStr, ValidationError

from services.intake.api_docs import DESCRIPTION, HEADER_PARAMETERS, REQUEST_EXAMPLES, RESPONSES, SECURITY
from services.intake.domain.submissions import Receipt, SubmissionConflict
from services.intake.handlers.submissions import IntakeSecrets, receive_submission
from services.intake.ports import IntakeUnitOfWork
from services.intake.schemas import Submission, validation_context
from services.intake.signatures import AuthenticationFailed, verify
from shared.clock import Clock
from shared.db import TRANSIENT_DB_ERRORS
from shared.http import problem, validation_errors

log = logging.getLogger(__name__)
MAX_BODY = 256 * 1024
RETRY_AFTER_S = "5"


@dataclass(frozen=True)
class Portal:
    """What the portal route needs; `main.py` sets it as `app.state.portal`."""

    clients: Callable[[], Mapping[str, Sequence[SecretStr]]]
    unit_of_work: Callable[[], IntakeUnitOfWork]
    keys: IntakeSecrets
    clock: Clock
    max_age_days: int


router = APIRouter()
_OPENAPI: dict[str, Any] = {
    "security": SECURITY,
    "parameters": HEADER_PARAMETERS,
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/Submission"},
                "examples": REQUEST_EXAMPLES,
            }
        },
    },
}


@router.post(
    "/v1/referrals",
    status_code=202,
    responses=RESPONSES,
    summary="Submit one e-service form (report or application)",
    description=DESCRIPTION,
    openapi_extra=_OPENAPI,
)
async def post_referral(request: Request) -> Response:
    """Check, translate and receive one submitted form."""
    portal: Portal = request.app.state.portal
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return problem(415, "Unsupported media type", detail="send application/json")
    raw = await _read_limited(request)
    if raw is None:
        return problem(413, "Body too large", detail="the limit is 256 KiB")
    headers, now = request.headers, portal.clock.now()
    try:
        client_id = verify(
            portal.clients(), headers.get("x-client-id"), headers.get("x-signature"), raw, now.timestamp()
        )
    except AuthenticationFailed as exc:
        return problem(401, "Authentication failed", detail=str(exc))
    try:
        body = Submission.model_validate_json(raw, context=validation_context(now, portal.max_age_days))
    except ValidationError as exc:
        return problem(422, "Invalid referral", errors=readable_errors(exc))
    return await _receive(portal, body, raw, client_id)


async def _receive(portal: Portal, body: Submission, raw: bytes, client_id: str) -> Response:
    try:
        received = await receive_submission(
            portal.unit_of_work(), body.to_domain(), raw, client_id, portal.keys, portal.clock
        )
    except SubmissionConflict:
        return problem(
            409,
            "Submission id already used",
            detail="this submission_id was stored earlier with a different body",
        )
    except TRANSIENT_DB_ERRORS as exc:
        log.warning("database unavailable, answering 503", extra={"error": type(exc).__name__})
        return problem(
            503, "Service unavailable", detail="storage is unavailable; retry later",
            headers={"Retry-After": RETRY_AFTER_S},
        )  # fmt: skip
    if not received.repeated:
        log.info(
            "submission stored",
            extra={"reference": received.receipt.reference, "referrals": len(received.receipt.referrals)},
        )
    answer = receipt_body(body.submission_id, received.receipt)
    return JSONResponse(answer, status_code=200 if received.repeated else 202)


def receipt_body(portal_id: str, receipt: Receipt) -> dict[str, Any]:
    """The 202 (and 200) answer: the portal's own submission id (to this portal only), intake's
    reference for it, when it was received, one referral per child."""
    return {
        "submission_id": portal_id,
        "reference": receipt.reference,
        "received_at": receipt.received_at.isoformat(),
        "referrals": [
            {"referral_id": r.referral_id, "child_index": r.child_index} for r in receipt.referrals
        ],
    }


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
