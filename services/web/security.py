"""Sessions, security headers and CSRF at the HTTP edge.

The cookie holds only a random session id; the session (user, token, CSRF token) stays on the
server. Every response carries a strict CSP (no inline script or style), no framing and no
referrer; every page is `no-store` because pages show referral details.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request, Response

from services.web.domain.model import Caller
from services.web.domain.views import is_idle
from services.web.domain.workenv import may_open
from services.web.ports import Session, SessionStore, UpstreamDenied
from shared.clock import Clock

COOKIE = "rr_session"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
HSTS = "max-age=31536000; includeSubDomains"


class SignInRequired(Exception):
    """The page needs a signed-in user; the edge sends them to sign in and back to `return_to`."""

    def __init__(self, return_to: str) -> None:
        super().__init__(return_to)
        self.return_to = return_to


class CsrfRejected(Exception):
    """A form arrived without this session's CSRF token."""


@dataclass(frozen=True)
class SessionPolicy:
    """How sessions behave: idle timeout and whether cookies and HSTS are for HTTPS only."""

    idle_timeout: timedelta = timedelta(minutes=30)
    production: bool = False


def new_session(clock: Clock) -> Session:
    """A fresh anonymous session with its own CSRF token."""
    return Session(
        session_id=secrets.token_urlsafe(32), csrf_token=secrets.token_urlsafe(32), last_seen=clock.now()
    )


PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def session_middleware(
    sessions: SessionStore, clock: Clock, policy: SessionPolicy
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """Load (or start) the session, run the request, save it, set the cookie and the headers."""

    async def middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.path in PROBE_PATHS:  # probes and scrapes get no session and no cookie
            response = await call_next(request)
            _set_headers(request, response, policy)
            return response
        session = await _load(request, sessions, clock, policy)
        request.state.session = session
        response = await call_next(request)
        current: Session = request.state.session
        current.last_seen = clock.now()
        discarded = getattr(request.state, "discard", None)
        if discarded:
            await sessions.delete(discarded)
        await sessions.put(current)
        _set_cookie(response, current.session_id, policy)
        _set_headers(request, response, policy)
        return response

    return middleware


async def _load(request: Request, sessions: SessionStore, clock: Clock, policy: SessionPolicy) -> Session:
    session_id = request.cookies.get(COOKIE)
    session = await sessions.get(session_id) if session_id else None
    request.state.session_expired = False
    if session is not None and is_idle(session.last_seen, clock.now(), policy.idle_timeout):
        await sessions.delete(session.session_id)
        request.state.session_expired = session.user is not None
        fresh = new_session(clock)
        fresh.language = session.language
        return fresh
    return session or new_session(clock)


def _set_cookie(response: Response, session_id: str, policy: SessionPolicy) -> None:
    # Lax, not Strict: the provider's redirect back to /auth/callback is a cross-site top-level
    # navigation and must carry the cookie; every state change is a POST with a CSRF token.
    response.set_cookie(
        COOKIE,
        session_id,
        httponly=True,
        secure=policy.production,
        samesite="lax",
        path="/",
        max_age=int(policy.idle_timeout.total_seconds()),
    )


def _set_headers(request: Request, response: Response, policy: SessionPolicy) -> None:
    response.headers.update(HEADERS)
    if policy.production:
        response.headers["Strict-Transport-Security"] = HSTS
    if not request.url.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"


def rotate(request: Request, clock: Clock) -> Session:
    """A new session id and CSRF token at sign-in (against session fixation), keeping the language."""
    old: Session = request.state.session
    fresh = new_session(clock)
    fresh.language = old.language
    request.state.session = fresh
    request.state.discard = old.session_id
    return fresh


def caller_of(request: Request) -> Caller:
    """The signed-in caller, or SignInRequired naming the page to come back to; UpstreamDenied
    (the 403 page) for a partner anywhere but the consultations page."""
    session: Session = request.state.session
    if session.user is None or session.token is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(path if request.method == "GET" else "/")
    if not may_open(session.user, request.url.path):
        raise UpstreamDenied("partners see the consultations page only")
    return Caller(session.user, session.token)


async def check_csrf(request: Request) -> None:
    """CsrfRejected unless the form's `csrf_token` is this session's."""
    session: Session = request.state.session
    form = await request.form()
    sent = form.get("csrf_token")
    if not isinstance(sent, str) or not secrets.compare_digest(sent, session.csrf_token):
        raise CsrfRejected()
