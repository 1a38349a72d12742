"""The pages: thin routes that call a use case and render a template. Upstream refusals become
the 403 page, an expired token a new sign-in, an unreachable service a 503 page."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse

from services.web import handlers
from services.web.context import language, render, web
from services.web.domain.dossier import dossier_sections
from services.web.domain.model import Caller
from services.web.domain.texts import LANGUAGES, text
from services.web.domain.views import LOG_FILTERS, local_instant, log_query, safe_return_path
from services.web.ports import Session, UpstreamDenied, UpstreamRejected
from services.web.security import caller_of, check_csrf

router = APIRouter()
_REFERRAL_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_STAFF_ID = re.compile(r"^[a-z][a-z0-9\-]{0,39}$")
QUEUES = {"mine": {"assignee": "me", "open": "true"}, "incoming": {}, "team": {"open": "true"}}
ABSENCE_KINDS = ("leave", "sick", "course", "other")


def _referral_id(value: str) -> str:
    if not _REFERRAL_ID.fullmatch(value):
        raise UpstreamDenied("malformed id")  # the same 403 page as any refusal
    return value


@router.get("/")
async def start(request: Request) -> Any:
    """My work by role, and the on-duty panel; a partner goes to the consultations page."""
    session: Session = request.state.session
    if session.user is not None and session.user.partner_only:
        return RedirectResponse("/consultations", status_code=303)
    caller = caller_of(request)
    context = web(request)
    if not caller.user.roles:
        return render(request, "error.html", 403, message_key="no_role")
    page = await handlers.start_page(context.api, caller, context.clock.now(), language(request))
    return render(
        request, "start.html", page=page, queue="mine" if page.queue_title == "my_referrals" else "incoming"
    )


@router.get("/referrals")
async def my_referrals(request: Request) -> Any:
    """A caseworker's own referrals."""
    return await _queue(request, "mine", "my_referrals")


@router.get("/incoming")
async def incoming(request: Request) -> Any:
    """The intake group's queue: every open referral, most urgent first."""
    return await _queue(request, "incoming", "incoming")


async def _queue(request: Request, queue: str, title: str) -> Any:
    caller = caller_of(request)
    context = web(request)
    rows = await handlers.queue_page(
        context.api, caller, QUEUES[queue], context.clock.now(), language(request)
    )
    return render(request, "queue.html", rows=rows, queue=queue, title=title)


@router.get("/fragments/queue/{queue}")
async def queue_fragment(request: Request, queue: str) -> Any:
    """The queue table alone, for htmx polling."""
    caller = caller_of(request)
    context = web(request)
    query = QUEUES.get(queue, {"assignee": "me"})
    rows = await handlers.queue_page(context.api, caller, query, context.clock.now(), language(request))
    return render(request, "_queue_table.html", rows=rows, queue=queue)


@router.get("/referrals/{referral_id}")
async def referral(request: Request, referral_id: str) -> Any:
    """One referral: its clocks and the actions the user's roles allow."""
    caller = caller_of(request)
    context = web(request)
    rid = _referral_id(referral_id)
    page = await handlers.referral_page(context.api, caller, rid, context.clock.now(), language(request))
    return render(request, "referral.html", page=page)


@router.get("/referrals/{referral_id}/dossier")
async def dossier(request: Request, referral_id: str) -> Any:
    """The report in full; intake logs the read before it answers, and the page says so."""
    caller = caller_of(request)
    body = await handlers.dossier_page(web(request).api, caller, _referral_id(referral_id))
    sections = dossier_sections(body, language(request))
    safety = await handlers.safety_flag(web(request).api, caller, referral_id, language(request))
    return render(request, "dossier.html", referral_id=referral_id, sections=sections, safety=safety)


@router.post("/referrals/{referral_id}/registration", dependencies=[Depends(check_csrf)])
async def registration(request: Request, referral_id: str) -> Any:
    """Record the case number of the system of record."""
    caller = caller_of(request)
    context = web(request)
    rid = _referral_id(referral_id)
    number = str((await request.form()).get("system_case_number", "")).strip()
    await _saving(
        request,
        handlers.register_case_number(context.api, caller, rid, number, context.clock.now()),
        field="system_case_number",
    )
    return RedirectResponse(f"/referrals/{rid}", status_code=303)


@router.post("/referrals/{referral_id}/feedback-sent", dependencies=[Depends(check_csrf)])
async def feedback_sent(request: Request, referral_id: str) -> Any:
    """Record that the reporter was told (intake stops the feedback clock)."""
    caller = caller_of(request)
    context = web(request)
    rid = _referral_id(referral_id)
    channel = str((await request.form()).get("channel", ""))
    if channel not in handlers.FEEDBACK_CHANNELS:
        _field_error(request, "channel", text("choose_channel", language(request)))
        return RedirectResponse(f"/referrals/{rid}", status_code=303)
    await _saving(
        request,
        handlers.feedback_sent(context.api, caller, rid, channel, context.clock.now()),
        field="channel",
    )
    return RedirectResponse(f"/referrals/{rid}", status_code=303)


@router.post("/referrals/{referral_id}/{action}", dependencies=[Depends(check_csrf)])
async def act(request: Request, referral_id: str, action: str) -> Any:
    """Acknowledge, protection assessment, decision, close or reassign."""
    caller = caller_of(request)
    context = web(request)
    rid = _referral_id(referral_id)
    form = await request.form()
    fields = {k: str(v) for k, v in form.items() if k in ("outcome", "decision", "caseworker", "reason")}
    await _saving(
        request,
        handlers.act_on_referral(context.api, caller, rid, action, fields, context.clock.now()),
        field="caseworker" if action == "reassign" else None,
    )
    return RedirectResponse(f"/referrals/{rid}", status_code=303)


@router.get("/team")
async def team(request: Request) -> Any:
    """The team board: load against capacity per caseworker, open referrals, absences."""
    caller = caller_of(request)
    context = web(request)
    teams = context.board_teams(caller.user)
    bars, rows = await handlers.team_board(context.api, caller, context.clock.now(), language(request), teams)
    return render(request, "team.html", bars=bars, rows=rows, queue="team", kinds=ABSENCE_KINDS)


@router.get("/overview")
async def overview(request: Request) -> Any:
    """The head of unit's overview of all teams."""
    caller = caller_of(request)
    if not caller.user.has_any("head_of_unit"):
        raise UpstreamDenied("head of unit only")
    teams = await handlers.overview(web(request).api, caller)
    return render(request, "overview.html", teams=teams)


@router.post("/staff/absences", dependencies=[Depends(check_csrf)])
async def absence(request: Request) -> Any:
    """Register an absence from the team board."""
    caller = caller_of(request)
    form = await request.form()
    try:
        staff_id = str(form.get("staff_id", ""))
        sid = staff_id if _STAFF_ID.fullmatch(staff_id) else ""
        starts, ends = date.fromisoformat(str(form["starts_on"])), date.fromisoformat(str(form["ends_on"]))
        kind = str(form["kind"]) if form.get("kind") in ABSENCE_KINDS else ""
        if not sid or not kind:
            raise ValueError("staff_id or kind")
    except (KeyError, ValueError):
        _flash(request, text("rejected", language(request), reason=text("absences", language(request))))
        return RedirectResponse("/team", status_code=303)
    if ends < starts:
        _field_error(request, "ends_on", text("ends_before_start", language(request)))
        return RedirectResponse("/team", status_code=303)
    await _saving(
        request, handlers.add_absence(web(request).api, caller, sid, starts, ends, kind), field="ends_on"
    )
    return RedirectResponse("/team", status_code=303)


@router.post("/staff/absences/end", dependencies=[Depends(check_csrf)])
async def end_absence(request: Request) -> Any:
    """End a running absence early, from the team board."""
    caller = caller_of(request)
    form = await request.form()
    staff_id = str(form.get("staff_id", ""))
    try:
        back_on = date.fromisoformat(str(form.get("back_on", "")))
    except ValueError:
        back_on = None
    if not _STAFF_ID.fullmatch(staff_id) or back_on is None:
        _field_error(
            request, "back_on", text("rejected", language(request), reason=text("back_on", language(request)))
        )
        return RedirectResponse("/team", status_code=303)
    ending = handlers.end_absence(web(request).api, caller, staff_id, back_on)
    await _saving(request, ending, field="back_on")
    return RedirectResponse("/team", status_code=303)


@router.get("/access-log")
async def access_log(request: Request) -> Any:
    """The access-log review: filters by staff, referral and days; a page at a time."""
    caller = caller_of(request)
    if not caller.user.has_any("head_of_unit", "manager"):
        raise UpstreamDenied("head of unit and managers")
    filters = {k: str(v) for k, v in request.query_params.items() if k in LOG_FILTERS}
    head = caller.user.has_any("head_of_unit")  # the monthly reviews go to the head of unit only
    reviews = await handlers.access_reviews(web(request).api, caller, language(request)) if head else None
    try:
        query = log_query(filters)
    except ValueError:
        return render(
            request, "access_log.html", 422, page=None, filters=filters, bad_day=True, reviews=reviews
        )
    try:
        page = await handlers.access_log_page(web(request).api, caller, query)
    except UpstreamRejected as exc:
        return render(
            request, "access_log.html", 422, page=None, filters=filters, reason=exc.reason, reviews=reviews
        )
    following = httpx.QueryParams(filters | {"cursor": page.next_cursor}) if page.next_cursor else None
    return render(
        request,
        "access_log.html",
        page=page,
        filters=filters,
        next_query=str(following or ""),
        reviews=reviews,
    )


@router.get("/rotation")
async def rotation(request: Request) -> Any:
    """The rotation calendar (managers, head of unit) and the form for an override."""
    caller = caller_of(request)
    _managers_only(caller)
    context = web(request)
    rows = await handlers.rotation_page(context.api, caller, context.clock.now())
    feeds = await handlers.calendar_feeds(context.api, caller)
    session: Session = request.state.session
    new_feed_url, session.new_feed_url = session.new_feed_url, None  # shown this once
    return render(
        request, "rotation.html", rows=rows, teams=context.all_teams(), feeds=feeds, new_feed_url=new_feed_url
    )


@router.post("/rotation/calendar-feeds", dependencies=[Depends(check_csrf)])
async def create_calendar_feed(request: Request) -> Any:
    """A new calendar subscription link; its URL is kept in the server-side session until the
    rotation page shows it, once."""
    caller = caller_of(request)
    _managers_only(caller)
    session: Session = request.state.session
    session.new_feed_url = await web(request).api.create_calendar_feed(caller)
    return RedirectResponse("/rotation#subscribe-heading", status_code=303)


@router.post("/rotation/calendar-feeds/{feed_id}/revoke", dependencies=[Depends(check_csrf)])
async def revoke_calendar_feed(request: Request, feed_id: Annotated[int, Path(ge=1, le=2**63 - 1)]) -> Any:
    """Revoke one of the caller's subscription links (assignment checks whose it is)."""
    caller = caller_of(request)
    _managers_only(caller)
    await web(request).api.revoke_calendar_feed(caller, feed_id)
    _flash(request, text("feed_revoked", language(request)))
    return RedirectResponse("/rotation#subscribe-heading", status_code=303)


def _managers_only(caller: Caller) -> None:
    """The rotation page and its forms are for managers and the head of unit."""
    if not caller.user.has_any("manager", "head_of_unit"):
        raise UpstreamDenied("managers and the head of unit")


@router.post("/rotation/overrides", dependencies=[Depends(check_csrf)])
async def override(request: Request) -> Any:
    """Put a team on duty instead of the rotation's, for a while (a swap is two of these)."""
    caller = caller_of(request)
    form = await request.form()
    lang = language(request)
    team, reason = str(form.get("team", "")), str(form.get("reason", "")).strip()
    try:
        starts_at = local_instant(str(form.get("starts_at", "")))
        ends_at = local_instant(str(form.get("ends_at", "")))
    except ValueError:
        _field_error(request, "ends_at", text("rejected", lang, reason=text("override_times", lang)))
        return RedirectResponse("/rotation", status_code=303)
    if team not in web(request).all_teams() or not reason:
        _field_error(request, "ends_at", text("rejected", lang, reason=text("team", lang)))
        return RedirectResponse("/rotation", status_code=303)
    adding = handlers.add_override(web(request).api, caller, team, starts_at, ends_at, reason)
    await _saving(request, adding, field="ends_at")
    return RedirectResponse("/rotation", status_code=303)


@router.post("/language", dependencies=[Depends(check_csrf)])
async def choose_language(request: Request) -> Any:
    """Switch between Swedish and English for this session."""
    form = await request.form()
    session: Session = request.state.session
    chosen = str(form.get("language", "sv"))
    session.language = chosen if chosen in LANGUAGES else "sv"
    return RedirectResponse(safe_return_path(str(form.get("return_to", "/"))), status_code=303)


async def _saving(request: Request, action: Any, field: str | None = None) -> None:
    """Run an action; a refusal the user can fix becomes a message on the next page, and beside
    `field` when the form has one to fix."""
    lang = language(request)
    try:
        await action
    except UpstreamRejected as exc:
        message = text("rejected", lang, reason=exc.reason)
        if field is None:
            _flash(request, message)
        else:
            _field_error(request, field, message)
        return
    _flash(request, text("saved", lang))


def _field_error(request: Request, field: str, message: str) -> None:
    session: Session = request.state.session
    session.flash.append(text("form_has_errors", language(request)))
    session.field_errors[field] = message


def _flash(request: Request, message: str) -> None:
    session: Session = request.state.session
    session.flash.append(message)
