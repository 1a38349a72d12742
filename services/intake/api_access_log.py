"""`GET /v1/access-log` (CONTRACTS.md §2a): the access log's rows for the head of unit and managers.

Bearer tokens as the staff API (`shared/staff_auth.py`); who sees which rows is the use case's
(`handlers/access_log_queries.py`), decided before the parameters are looked at, so a refused
caller learns nothing from a 422. Bad parameters are problem details (422) naming the parameter.
The cursor is opaque to clients: the last row's place in the chain, encoded.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AwareDatetime

from services.intake.domain.access_log import LoggedEntry
from services.intake.domain.access_review import SentReview
from services.intake.handlers.access_log_queries import (
    AccessLogReaders,
    AccessLogRefused,
    Reader,
    list_reviews,
    read_access_log,
    visible_teams,
)
from services.intake.ports import AccessLogQuery, ReviewUnitOfWork
from shared.http import ApiProblem, problem_responses
from shared.staff_auth import Principal
from shared.unit_config import UnitConfig

DEFAULT_LIMIT, MAX_LIMIT = 100, 500
_OPAQUE = r"^[A-Za-z0-9._:\-]{1,128}$"
_STAFF = r"^[a-z][a-z0-9\-]{0,39}$"


@dataclass(frozen=True)
class AccessLogApi:
    """Set on `app.state.access_log` by the composition root."""

    unit_of_work: Callable[[], ReviewUnitOfWork]
    readers: AccessLogReaders
    authenticate: Callable[[HTTPAuthorizationCredentials | None], Awaitable[Principal]]


def readers_from_unit(config: UnitConfig) -> AccessLogReaders:
    """The head of unit and each manager's teams, from the unit file."""
    teams: dict[str, set[str]] = {}
    for team in config.teams:
        teams.setdefault(team.manager.id, set()).add(team.id)
    return AccessLogReaders(config.head_of_unit.id, {m: frozenset(t) for m, t in teams.items()})


_bearer = HTTPBearer(auto_error=False, description="JWT with claims `sub` and `roles`")


def _api(request: Request) -> AccessLogApi:
    api: AccessLogApi = request.app.state.access_log
    return api


async def _reader(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Reader:
    """The caller, authenticated (401) and allowed to read the log at all (403)."""
    api = _api(request)
    principal = await api.authenticate(credentials)
    reader = Reader(principal.sub, principal.roles)
    try:
        visible_teams(api.readers, reader)
    except AccessLogRefused:
        raise ApiProblem(
            403, "Forbidden", "only the head of unit and team managers read the access log"
        ) from None
    return reader


router = APIRouter(tags=["access log"])


@router.get("/v1/access-log", responses=problem_responses(401, 403, 422, 503))
async def access_log(
    request: Request,
    reader: Annotated[Reader, Depends(_reader)],
    staff: Annotated[str | None, Query(pattern=_STAFF)] = None,
    referral: Annotated[str | None, Query(pattern=_OPAQUE)] = None,
    child_key: Annotated[str | None, Query(pattern=_OPAQUE)] = None,
    from_: Annotated[AwareDatetime | None, Query(alias="from", description="inclusive")] = None,
    to: Annotated[AwareDatetime | None, Query(description="exclusive")] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Rows of the access log in chain order, a page at a time (`next_cursor` for the next)."""
    if from_ is not None and to is not None and to <= from_:
        _invalid("to", "must be later than from")
    query = AccessLogQuery(
        staff=staff, referral_id=referral, child_key=child_key, start=from_, end=to,
        after_seq=_after(cursor), limit=limit,
    )  # fmt: skip
    page = await read_access_log(_api(request).unit_of_work, _api(request).readers, reader, query)
    return {
        "rows": [row_json(r) for r in page.rows],
        "next_cursor": None if page.next_after is None else encode_cursor(page.next_after),
    }


REVIEWS_DEFAULT, REVIEWS_MAX = 12, 60
_MONTH = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


@router.get("/v1/access-reviews", responses=problem_responses(401, 403, 422, 503))
async def access_reviews(
    request: Request,
    reader: Annotated[Reader, Depends(_reader)],
    cursor: Annotated[str | None, Query(pattern=_MONTH, description="the next_cursor given")] = None,
    limit: Annotated[int, Query(ge=1, le=REVIEWS_MAX)] = REVIEWS_DEFAULT,
) -> dict[str, Any]:
    """The monthly access-log reviews sent, latest month first (head of unit only): when, how many
    rows, findings per kind and the chain anchor; no staff or referral ids (those are in the
    `access.review` event the head received)."""
    api = _api(request)
    try:
        page = await list_reviews(api.unit_of_work, api.readers, reader, cursor, limit)
    except AccessLogRefused:
        raise ApiProblem(403, "Forbidden", "only the head of unit reads the monthly reviews") from None
    return {"reviews": [review_json(r) for r in page.reviews], "next_cursor": page.next_before}


def review_json(review: SentReview) -> dict[str, Any]:
    """One sent review; figures None for a review sent before they were kept."""
    return {
        "month": review.month,
        "sent_at": _iso(review.sent_at),
        "entries": review.entries,
        "findings": None if review.findings is None else dict(review.findings),
        "chain_seq": review.chain_seq,
        "chain_hash": review.chain_hash,
    }


def row_json(row: LoggedEntry) -> dict[str, Any]:
    """One row as the contract lists it; the hash in hex."""
    e = row.entry
    return {
        "at": _iso(e.at), "staff": e.staff, "role": e.role, "relation": e.relation.value,
        "referral_id": e.referral_id, "child_key": e.child_key, "action": e.action.value,
        "reason": e.reason, "outcome": e.outcome.value, "client_addr": e.client_addr,
        "request_id": e.request_id, "hash": row.hash.hex(),
    }  # fmt: skip


def encode_cursor(seq: int) -> str:
    """The cursor that continues after the row `seq`."""
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def _after(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        version, _, seq = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition(":")
    except ValueError:  # not base64, not ASCII, not UTF-8 (binascii.Error, UnicodeDecodeError too)
        version, seq = "", ""
    if version != "v1" or not (seq.isascii() and seq.isdigit()) or len(seq) > 18:
        _invalid("cursor", "not a cursor this API gave out")
    return int(seq)


def _invalid(parameter: str, msg: str) -> NoReturn:
    raise RequestValidationError([{"loc": ("query", parameter), "msg": msg, "type": "value_error"}])


def _iso(at: datetime) -> str:
    return at.isoformat()
