"""Sign-in and sign-out routes: OpenID Connect authorization code flow with PKCE."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from services.web.adapters.oidc import SignInFailed
from services.web.context import render, web
from services.web.domain.model import ClaimsRejected, user_from_claims
from services.web.domain.views import safe_return_path
from services.web.ports import Session
from services.web.security import check_csrf, rotate

log = logging.getLogger(__name__)
router = APIRouter()


@router.get("/login")
async def login(request: Request, next: str | None = None) -> Any:
    """Send the browser to the identity provider; the state, nonce and PKCE verifier stay here."""
    context = web(request)
    if context.oidc is None:
        return render(request, "error.html", 503, message_key="upstream_unavailable")
    try:
        url, pending = await context.oidc.start(safe_return_path(next))
    except SignInFailed as exc:
        log.warning("sign-in could not start: %s", exc)
        return render(request, "error.html", 503, message_key="upstream_unavailable")
    session: Session = request.state.session
    session.pending = pending
    return RedirectResponse(url, status_code=303)


@router.get("/auth/callback")
async def callback(request: Request, code: str = "", state: str = "") -> Any:
    """Finish sign-in: the state must match, the code is exchanged with the verifier, the ID
    token verified; then a new session id (no fixation) and back to the page asked for."""
    context = web(request)
    session: Session = request.state.session
    pending = session.pending
    if pending is None or context.oidc is None or not code or state != pending.state:
        context.metrics.signed_in("refused")
        return render(request, "signin_failed.html", 400)
    try:
        tokens = await context.oidc.finish(code, pending)
        user = user_from_claims(tokens.claims, context.staff_id_claim, context.roles_claim)
    except (SignInFailed, ClaimsRejected) as exc:
        log.warning("sign-in failed: %s", exc)
        context.metrics.signed_in("refused" if isinstance(exc, ClaimsRejected) else "failed")
        return render(request, "signin_failed.html", 400)
    context.metrics.signed_in("ok")
    fresh = rotate(request, context.clock)
    fresh.user = user
    fresh.token = tokens.id_token if context.upstream_token == "id_token" else tokens.access_token  # noqa: S105
    log.info("signed in", extra={"staff": user.staff_id})
    return RedirectResponse(pending.return_to, status_code=303)


@router.post("/logout", dependencies=[Depends(check_csrf)])
async def logout(request: Request) -> Any:
    """Forget the session here (the provider's own session is not ended by this)."""
    rotate(request, web(request).clock)
    return RedirectResponse("/signed-out", status_code=303)


@router.get("/signed-out")
async def signed_out(request: Request) -> Any:
    """The page after sign-out."""
    return render(request, "signed_out.html")
