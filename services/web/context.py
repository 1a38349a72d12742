"""What the HTTP edge needs, built by the composition root and kept on `app.state.web`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from services.web.adapters.oidc import OidcClient
from services.web.domain.model import User
from services.web.domain.texts import Language, language_or_default, text
from services.web.domain.views import navigation
from services.web.ports import Session, SessionStore, StaffApi
from services.web.telemetry import WebMetrics
from shared.clock import Clock

TEMPLATES = Jinja2Templates(
    env=Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True)
)


@dataclass(frozen=True)
class WebContext:
    """Ports and settings the routes use."""

    api: StaffApi
    sessions: SessionStore
    oidc: OidcClient | None
    clock: Clock
    managed_teams: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def all_teams(self) -> list[str]:
        """Every team of the unit file, sorted."""
        return sorted({team for teams in self.managed_teams.values() for team in teams})

    def board_teams(self, user: User) -> frozenset[str] | None:
        """The teams on a user's board: every team for the head of unit, else the ones they manage."""
        return None if user.has_any("head_of_unit") else self.managed_teams.get(user.staff_id, frozenset())

    staff_id_claim: str = "sub"
    roles_claim: str = "roles"
    upstream_token: str = "access_token"  # noqa: S105 - which token, not a token
    metrics: WebMetrics = field(default_factory=WebMetrics)


def web(request: Request) -> WebContext:
    """The context set by `main.create_app`."""
    context: WebContext = request.app.state.web
    return context


def language(request: Request) -> Language:
    """The session's language."""
    session: Session = request.state.session
    return language_or_default(session.language)


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> Any:
    """A page in the session's language, with the menu, CSRF token and any flash messages."""
    session: Session = request.state.session
    lang = language(request)
    user = session.user
    flash, session.flash = session.flash, []
    errors, session.field_errors = session.field_errors, {}
    context = {
        "lang": lang,
        "t": lambda key, **kw: text(key, lang, **kw),
        "user": user,
        "nav": navigation(user, lang) if user else [],
        "csrf_token": session.csrf_token,
        "flash": flash,
        "errors": errors,
        "path": request.url.path,
        **values,
    }
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)
