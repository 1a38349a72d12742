"""Staff endpoints of feedback to mandatory reporters (issue 23; CONTRACTS.md §2a): a request made
after the report, a sending recorded (a letter posted), and the state of the feedback. Same bearer
tokens and the same access by relation as the dossier; every attempt is in the access log.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime

from services.intake.adapters.feedback_letter import print_feedback_letter
from services.intake.api_dossier import (
    _NOT_JSON,
    Caller,
    ReferralId,
    _attempt,
    _AuthenticatedFirst,
    _Body,
    _guarded,
)
from services.intake.domain.feedback import Language, NotOwedFeedback, Sending
from services.intake.handlers import feedback
from services.intake.handlers.feedback import FeedbackTimeOutOfRange, NoFeedbackOwed, NotYetAssigned
from shared.http import ApiProblem, problem_responses

router = APIRouter(prefix="/v1/referrals", tags=["reporter feedback"], route_class=_AuthenticatedFirst)
_RESPONSES: dict[int | str, dict[str, Any]] = {**problem_responses(401, 403, 409, 422, 503), **_NOT_JSON}


class FeedbackRequestBody(_Body):
    """When the mandatory reporter asked (after the report), and how they want the answer."""

    requested_at: AwareDatetime
    channel: Literal["email", "letter"]


class FeedbackSentBody(_Body):
    """When the reporter was told, and how (a letter posted, or an email sent by hand)."""

    sent_at: AwareDatetime
    channel: Literal["email", "letter"]


async def _feedback_guarded(work: Awaitable[Any]) -> Any:
    """The dossier's refusals as the dossier answers them, and feedback's own."""
    try:
        return await _guarded(work)
    except NotOwedFeedback as exc:
        # The referral's reporter, not the body, is what refuses: a conflict with its state.
        raise ApiProblem(409, "Conflict", str(exc)) from None
    except FeedbackTimeOutOfRange as exc:
        field = "requested_at" if "requested_at" in str(exc) else "sent_at"
        raise RequestValidationError([_error(field, str(exc))]) from None
    except NotYetAssigned:
        raise ApiProblem(409, "Conflict", "the referral is not assigned yet; try again in a moment") from None
    except NoFeedbackOwed:
        raise ApiProblem(409, "Conflict", "no feedback is owed yet: no decision, or nobody asked") from None


def _error(field: str, msg: str) -> dict[str, Any]:
    return {"loc": ("body", field), "msg": msg, "type": "value_error"}


def _sending(sending: Sending | None) -> dict[str, Any] | None:
    if sending is None:
        return None
    return {
        "decision": sending.decision,
        "decided_at": sending.decided_at.isoformat(),
        "channel": sending.channel,
        "state": sending.state,
        "sent_at": sending.sent_at.isoformat() if sending.sent_at else None,
        "sent_by": sending.sent_by,
    }


@router.post(
    "/{referral_id}/feedback-requests", status_code=201,
    responses={**_RESPONSES, 200: {"description": "A request was recorded before; the first one counts"}},
    summary="Record a mandatory reporter's request for feedback made after the report",
)  # fmt: skip
async def post_feedback_request(
    request: Request, caller: Caller, referral_id: ReferralId, body: FeedbackRequestBody
) -> JSONResponse:
    """201 when recorded, 200 when a request was recorded before (the first one counts)."""
    attempt = _attempt(request, caller, referral_id)
    deps = request.app.state.dossier.dossiers
    done = await _feedback_guarded(feedback.request_feedback(deps, attempt, body.requested_at, body.channel))
    r = done.request
    answer = {
        "referral_id": referral_id, "requested_at": r.requested_at.isoformat(), "channel": r.channel,
        "recorded_by": r.recorded_by, "feedback": _sending(done.sending),
    }  # fmt: skip
    return JSONResponse(answer, status_code=201 if done.new else 200)


@router.post(
    "/{referral_id}/feedback-sent", responses=_RESPONSES, summary="Record that the reporter was told"
)
async def post_feedback_sent(
    request: Request, caller: Caller, referral_id: ReferralId, body: FeedbackSentBody
) -> dict[str, Any]:
    """The feedback clock stops; idempotent (the first sending counts)."""
    attempt = _attempt(request, caller, referral_id)
    deps = request.app.state.dossier.dossiers
    sending = await _feedback_guarded(feedback.record_sent(deps, attempt, body.sent_at, body.channel))
    return {"referral_id": referral_id, "feedback": _sending(sending)}


_LETTER: dict[int | str, dict[str, Any]] = {
    **problem_responses(401, 403, 409, 422, 503),
    200: {
        "description": "The feedback letter",
        "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
    },
}


@router.get(
    "/{referral_id}/feedback-letter.pdf", responses=_LETTER, response_class=Response,
    summary="The feedback letter to print and post (logged as an export)",
)  # fmt: skip
async def get_feedback_letter(request: Request, caller: Caller, referral_id: ReferralId) -> Response:
    """The letter for a reporter who asked for one (or whose email could not be sent)."""
    attempt = _attempt(request, caller, referral_id)
    deps = request.app.state.dossier.dossiers
    language: Language = getattr(request.app.state, "feedback_language", "sv")
    recipient, text, reference, dated = await _feedback_guarded(feedback.letter_of(deps, attempt, language))
    pdf = await print_feedback_letter(recipient, text, reference, dated)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="aterkoppling-{referral_id}.pdf"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
