"""Staff endpoints of intake (CONTRACTS.md §2a): the dossier, its printable PDF, an attachment,
reveal, break-the-glass and registration, with staff bearer tokens (§3).

Who may read is the domain's decision (domain/dossier_access.py); every outcome of reading is in
the access log before this edge answers. A refusal never says whether the referral exists.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from services.intake.adapters import dossier_print
from services.intake.domain.dossier import (
    AccessRefused,
    AttachmentMissing,
    AttachmentWithheld,
    ReferralErased,
    RegistrationConflict,
)
from services.intake.domain.dossier_access import Reader
from services.intake.handlers import dossier
from services.intake.handlers.dossier import AssignmentUnavailable, Attachment, Attempt, Dossiers
from services.intake.ports import AccessLogUnavailable, DossierPrinter
from shared.crypto import DataKeyDestroyed
from shared.http import ApiProblem, ProblemDetails, problem_responses
from shared.staff_auth import Principal

log = logging.getLogger(__name__)
RETRY_AFTER_S = "5"
_NO_CONTROLS = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
_SURROGATE = re.compile("[\ud800-\udfff]")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_bearer = HTTPBearer(auto_error=False, description="JWT with claims `sub` and `roles`")
ReferralId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]


@dataclass(frozen=True)
class DossierApi:
    """Set on `app.state.dossier` by the composition root."""

    dossiers: Dossiers
    authenticate: Callable[[HTTPAuthorizationCredentials | None], Awaitable[Principal]]
    printer: DossierPrinter = dossier_print.print_dossier


class _AuthenticatedFirst(APIRoute):
    """A route that authenticates the caller before FastAPI reads the body: a request without a
    valid token is 401 even when its body is not JSON at all (FastAPI parses the body before it
    solves any dependency). The caller is kept for the `Caller` dependency."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def authenticated_first(request: Request) -> Response:
            request.state.caller = await _authenticated(request, await _bearer(request))
            return await handler(request)

        return authenticated_first


router = APIRouter(prefix="/v1/referrals", tags=["dossier"], route_class=_AuthenticatedFirst)


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReasonBody(_Body):
    """Why the reader needs it (kept in the access log, never in logs or events)."""

    # Text the log can store and print: no control characters but tab and line breaks, and no
    # lone surrogates (JSON can escape them; UTF-8 and Postgres cannot hold them).
    reason: str = Field(min_length=10, max_length=500, pattern=_NO_CONTROLS)

    @field_validator("reason")
    @classmethod
    def _no_lone_surrogates(cls, reason: str) -> str:
        if _SURROGATE.search(reason):
            raise ValueError("lone surrogates are not text")
        return reason


class RegistrationBody(_Body):
    """The referral's case number in the system of record, and when it was registered there."""

    system_case_number: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9./:\- ]{0,39}$")
    registered_at: AwareDatetime


@dataclass(frozen=True)
class _Caller:
    principal: Principal
    token: str


async def _authenticated(request: Request, credentials: HTTPAuthorizationCredentials | None) -> _Caller:
    api: DossierApi = request.app.state.dossier
    principal = await api.authenticate(credentials)
    assert credentials is not None  # authenticate refuses a request without one
    return _Caller(principal, credentials.credentials)


async def _caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> _Caller:
    """The caller, authenticated by the route before anything else (`_AuthenticatedFirst`); a
    dependency so that the OpenAPI document names the bearer scheme."""
    caller: _Caller | None = getattr(request.state, "caller", None)
    return caller if caller is not None else await _authenticated(request, credentials)


Caller = Annotated[_Caller, Depends(_caller)]


def _attempt(request: Request, caller: _Caller, referral_id: str) -> Attempt:
    given = request.headers.get("x-request-id", "")
    request_id = given if _REQUEST_ID.fullmatch(given) else str(uuid.uuid4())
    client = request.client.host if request.client else None
    reader = Reader(caller.principal.sub, caller.principal.roles)
    return Attempt(reader, referral_id, caller.token, client, request_id)


def _refused() -> ApiProblem:
    return ApiProblem(403, "Forbidden", "no need-to-know access to this referral")


def _unavailable(what: str) -> ApiProblem:
    return ApiProblem(503, "Service unavailable", f"{what}; retry later", {"Retry-After": RETRY_AFTER_S})


async def _guarded(work: Awaitable[Any]) -> Any:
    """The use case's answer, or its refusal as problem details."""
    try:
        return await work
    except AccessRefused:
        raise _refused() from None
    except AssignmentUnavailable:
        log.warning("assignment unreachable, dossier refused")
        raise _unavailable("the referral's assignment could not be checked") from None
    except AccessLogUnavailable as exc:
        log.warning("access log not written, nothing returned", extra={"error": str(exc)})
        raise _unavailable("the access log is unavailable") from None
    except AttachmentWithheld as exc:
        raise ApiProblem(403, "Forbidden", f"the attachment is not served: {exc}") from None
    except AttachmentMissing:
        raise ApiProblem(404, "Not Found", "the referral has no such attachment") from None
    except RegistrationConflict:
        raise ApiProblem(409, "Conflict", "the referral is registered under another case number") from None
    except DataKeyDestroyed:  # erased between the load and the decryption
        raise ApiProblem(410, "Gone", "the referral's received copy was erased") from None
    except ReferralErased as exc:
        when = exc.erased_at.isoformat()
        raise ApiProblem(
            410, "Gone", f"the referral's received copy was erased on {when} by rule {exc.rule}"
        ) from None


_READ = problem_responses(401, 403, 410, 422, 503)
# A body that is not JSON at all (FastAPI's own answer, as problem details).
_NOT_JSON: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ProblemDetails,
        "description": "The body is not JSON.",
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
    }
}
_WRITE = {**_READ, **_NOT_JSON}


@router.get("/{referral_id}/dossier", responses=_READ, summary="The referral as received (need-to-know)")
async def get_dossier(request: Request, caller: Caller, referral_id: ReferralId) -> dict[str, Any]:
    """The dossier; every call, allowed or not, is in the access log first."""
    attempt = _attempt(request, caller, referral_id)
    answer: dict[str, Any] = await _guarded(dossier.read_dossier(request.app.state.dossier.dossiers, attempt))
    return answer


_PDF = {
    **problem_responses(401, 403, 410, 422, 503),
    200: {
        "description": "The printable dossier",
        "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
    },
}


@router.get(
    "/{referral_id}/dossier.pdf",
    response_class=Response,
    responses=_PDF,
    summary="The printable dossier for the system of record (need-to-know)",
)
async def get_dossier_pdf(request: Request, caller: Caller, referral_id: ReferralId) -> Response:
    """The dossier as a PDF, masked as the dossier is; logged as an export before it is rendered."""
    attempt = _attempt(request, caller, referral_id)
    api: DossierApi = request.app.state.dossier
    pdf: bytes = await _guarded(dossier.export_dossier(api.dossiers, attempt, api.printer))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{referral_id}.pdf"',
            "Cache-Control": "no-store",
        },
    )


_ATTACHMENT = {
    **problem_responses(401, 403, 404, 410, 422, 503),
    200: {
        "description": "The attachment's content, served with its stored media type",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    },
}


@router.get(
    "/{referral_id}/attachments/{n}",
    response_class=Response,
    responses=_ATTACHMENT,
    summary="One attachment's content (need-to-know; logged)",
)
async def get_attachment(
    request: Request, caller: Caller, referral_id: ReferralId, n: Annotated[int, Path(ge=1, le=1000)]
) -> Response:
    """Logged as `attachment` before it is decrypted; 403 for a refused caller whether or not it
    exists, and for the original document of a protected child or of several children (reveal
    gives the protected child's whereabouts); 404 only for a reader who may read the dossier."""
    attempt = _attempt(request, caller, referral_id)
    api: DossierApi = request.app.state.dossier
    attachment: Attachment = await _guarded(dossier.download_attachment(api.dossiers, attempt, n))
    info = attachment.info
    return Response(
        attachment.content,
        media_type=info.media_type,
        headers={
            "Content-Disposition": _disposition(info.file_name or info.name),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _disposition(name: str) -> str:
    """`attachment` with the name: an ASCII fallback and the UTF-8 name (RFC 6266, 8187)."""
    fallback = re.sub(r"[^A-Za-z0-9 ._()\-]", "_", name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.post(
    "/{referral_id}/reveal",
    responses={**_WRITE, **problem_responses(410)},
    summary="Unmask a protected child's whereabouts",
)
async def post_reveal(
    request: Request, caller: Caller, referral_id: ReferralId, body: ReasonBody
) -> dict[str, Any]:
    """The masked fields, for one who may read the dossier; logged with the reason."""
    attempt = _attempt(request, caller, referral_id)
    deps = request.app.state.dossier.dossiers
    answer: dict[str, Any] = await _guarded(dossier.reveal(deps, attempt, body.reason))
    return answer


@router.post(
    "/{referral_id}/break-glass", status_code=201, responses=_WRITE, summary="Open a referral in an emergency"
)
async def post_break_glass(
    request: Request, caller: Caller, referral_id: ReferralId, body: ReasonBody
) -> JSONResponse:
    """A time-limited grant; logged with the reason; the team's manager is alerted."""
    attempt = _attempt(request, caller, referral_id)
    deps = request.app.state.dossier.dossiers
    expires = await _guarded(dossier.break_glass(deps, attempt, body.reason))
    return JSONResponse({"expires_at": expires.isoformat()}, status_code=201)


@router.post(
    "/{referral_id}/registration",
    responses={**problem_responses(401, 403, 409, 422, 503), **_NOT_JSON},
    summary="Record the referral's case number in the system of record",
)
async def post_registration(
    request: Request, caller: Caller, referral_id: ReferralId, body: RegistrationBody
) -> dict[str, Any]:
    """Idempotent for the same case number; 409 for another."""
    attempt = _attempt(request, caller, referral_id)
    deps = request.app.state.dossier.dossiers
    done = await _guarded(dossier.register(deps, attempt, body.system_case_number, body.registered_at))
    r = done.registration
    return {
        "referral_id": referral_id,
        "system_case_number": r.system_case_number,
        "registered_at": r.registered_at.isoformat(),
        "registered_by": r.registered_by,
    }
