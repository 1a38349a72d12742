"""The working-environment pages (issue 22): "I am at my limit", the managers' flag pages, meeting
times and consultations (the only page a partner sees), threats and violence, the safety flag on
a referral, and the head of unit's outcome report. Thin routes: a use case, then a template."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from services.web import workenv
from services.web.context import language, render, web
from services.web.domain import workenv as rules
from services.web.domain.model import Caller
from services.web.domain.texts import text
from services.web.domain.views import STOCKHOLM
from services.web.ports import Session, UpstreamDenied, UpstreamRejected
from services.web.security import caller_of, check_csrf

router = APIRouter()
_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def _id(value: str) -> str:
    if not _ID.fullmatch(value):
        raise UpstreamDenied("malformed id")  # the same 403 page as any refusal
    return value


def _managers_only(caller: Caller) -> None:
    if not caller.user.has_any("manager", "head_of_unit"):
        raise UpstreamDenied("managers and the head of unit")


def _unit_staff_only(caller: Caller) -> None:
    if not caller.user.has_any("caseworker", "intake", "manager", "head_of_unit"):
        raise UpstreamDenied("the unit's staff")


def _say(request: Request, message: str, field: str | None = None, problem: str | None = None) -> None:
    """A message on the next page; with `field`, the form error beside that field."""
    session: Session = request.state.session
    if field is None:
        session.flash.append(message)
        return
    session.flash.append(text("form_has_errors", language(request)))
    session.field_errors[field] = problem or message


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    values["referral_ids"] = ",".join(str(v) for v in form.getlist("referral_ids"))
    return values


# "I am at my limit"


@router.post("/overload-flags", dependencies=[Depends(check_csrf)])
async def raise_flag(request: Request) -> Any:
    """A caseworker flags that they are at their limit, after ticking the confirmation."""
    caller = caller_of(request)
    lang = language(request)
    form = await _form(request)
    note = form.get("note", "").strip() or None
    if form.get("confirm") != "yes":
        _say(request, "", "confirm", text("flag_confirm", lang))
        return RedirectResponse("/#flag-heading", status_code=303)
    if note is not None and len(note) > rules.NOTE_MAX:
        _say(request, "", "note", text("flag_note_hint", lang))
        return RedirectResponse("/#flag-heading", status_code=303)
    try:
        await workenv.raise_flag(web(request).api, caller, note)
    except UpstreamRejected as exc:
        _say(request, text("rejected", lang, reason=exc.reason), "note")
        return RedirectResponse("/#flag-heading", status_code=303)
    _say(request, text("flag_raised", lang))
    return RedirectResponse("/#flag-heading", status_code=303)


@router.get("/overload-flags")
async def flags(request: Request) -> Any:
    """Managers (their team) and the head (all): the flags with answers and response times."""
    caller = caller_of(request)
    _managers_only(caller)
    open_only = request.query_params.get("open") == "true"
    rows = await workenv.flags_page(web(request).api, caller, open_only, language(request))
    return render(request, "overload_flags.html", rows=rows, open_only=open_only)


@router.get("/overload-flags/{flag_id}")
async def flag(request: Request, flag_id: str) -> Any:
    """One flag; while open, the form to answer it."""
    caller = caller_of(request)
    _managers_only(caller)
    context = web(request)
    page = await workenv.flag_page(context.api, caller, _id(flag_id), context.clock.now(), language(request))
    return render(request, "overload_flag.html", page=page, choices=rules.CAPACITY_CHOICES)


@router.post("/overload-flags/{flag_id}/response", dependencies=[Depends(check_csrf)])
async def respond(request: Request, flag_id: str) -> Any:
    """Relieve (capacity and until), reassign (chosen referrals) or keep; a comment always."""
    caller = caller_of(request)
    _managers_only(caller)
    fid, lang = _id(flag_id), language(request)
    back = RedirectResponse(f"/overload-flags/{fid}", status_code=303)
    try:
        today = web(request).clock.now().astimezone(STOCKHOLM).date()
        body = rules.response_body(await _form(request), today)
    except ValueError as exc:
        _say(request, "", str(exc), text(f"fix_{exc}", lang))
        return back
    try:
        await workenv.respond(web(request).api, caller, fid, body)
    except UpstreamRejected as exc:
        _say(request, "", "comment", text("rejected", lang, reason=exc.reason))
        return back
    _say(request, text("saved", lang))
    return back


# Meeting times and consultations (partners too)


@router.get("/consultations")
async def consultations(request: Request) -> Any:
    """The coming meeting times with free/booked, the booking form and the user's consultations."""
    caller = caller_of(request)
    context = web(request)
    booked = request.query_params.get("booked")
    page = await workenv.consultations_page(
        context.api,
        caller,
        context.clock.now(),
        language(request),
        booked if booked and _ID.fullmatch(booked) else None,
    )
    return render(request, "consultations.html", page=page)


@router.post("/consultations", dependencies=[Depends(check_csrf)])
async def book(request: Request) -> Any:
    """Book the next free time; the page then confirms team and time and the emailed invitation."""
    caller = caller_of(request)
    lang = language(request)
    form = await _form(request)
    topic, reference = form.get("topic", "").strip(), form.get("referral_id", "").strip() or None
    if not topic or len(topic) > rules.NOTE_MAX:
        _say(request, "", "topic", text("topic_hint", lang))
        return RedirectResponse("/consultations#book-heading", status_code=303)
    if reference is not None and not _ID.fullmatch(reference):
        _say(request, "", "referral_id", text("referral_reference_hint", lang))
        return RedirectResponse("/consultations#book-heading", status_code=303)
    try:
        made = await workenv.book(web(request).api, caller, topic, reference)
    except UpstreamRejected as exc:
        _say(request, "", "topic", text("rejected", lang, reason=exc.reason))
        return RedirectResponse("/consultations#book-heading", status_code=303)
    return RedirectResponse(f"/consultations?booked={made.consultation_id}#booked-heading", status_code=303)


@router.post("/consultations/{consultation_id}/cancel", dependencies=[Depends(check_csrf)])
async def cancel(request: Request, consultation_id: str) -> Any:
    """Cancel one of the user's consultations (assignment checks whose it is)."""
    caller, lang = caller_of(request), language(request)
    try:
        await workenv.cancel(web(request).api, caller, _id(consultation_id))
    except UpstreamRejected:  # assignment answers 409 when it is cancelled already (a second click)
        _say(request, text("consultation_cancelled_already", lang))
    else:
        _say(request, text("consultation_cancelled", lang))
    return RedirectResponse("/consultations#mine-heading", status_code=303)


# Threats and violence


@router.get("/incidents")
async def incidents(request: Request) -> Any:
    """The report form for any staff; for managers and the head the quarter's list and summary."""
    caller = caller_of(request)
    _unit_staff_only(caller)
    context = web(request)
    today = context.clock.now().astimezone(STOCKHOLM).date()
    quarter = request.query_params.get("quarter") or rules.quarter_of(today)
    page, bad_quarter = None, not rules.well_formed_quarter(quarter)
    if caller.user.has_any("manager", "head_of_unit") and not bad_quarter:
        try:
            page = await workenv.incidents_page(context.api, caller, quarter)
        except UpstreamRejected:  # well formed but out of assignment's range (years 2000-2100)
            bad_quarter = True
    return render(
        request,
        "incidents.html",
        422 if bad_quarter else 200,
        page=page,
        quarter=quarter,
        bad_quarter=bad_quarter,
        today=today.isoformat(),
        types=rules.INCIDENT_TYPES,
        channels=rules.INCIDENT_CHANNELS,
    )


@router.post("/incidents", dependencies=[Depends(check_csrf)])
async def record_incident(request: Request) -> Any:
    """Date, type, channel and an optional referral reference: no free text."""
    caller = caller_of(request)
    _unit_staff_only(caller)
    lang = language(request)
    form = await _form(request)
    reference = form.get("referral_id", "").strip() or None
    try:
        occurred_on = date.fromisoformat(form.get("occurred_on", ""))
    except ValueError:
        _say(request, "", "occurred_on", text("fix_day", lang))
        return RedirectResponse("/incidents#incident-heading", status_code=303)
    kind, channel = form.get("type", ""), form.get("channel", "")
    if kind not in rules.INCIDENT_TYPES or channel not in rules.INCIDENT_CHANNELS:
        _say(request, "", "type", text("fix_action", lang))
        return RedirectResponse("/incidents#incident-heading", status_code=303)
    if reference is not None and not _ID.fullmatch(reference):
        _say(request, "", "referral_id", text("referral_reference_hint", lang))
        return RedirectResponse("/incidents#incident-heading", status_code=303)
    try:
        await workenv.record_incident(web(request).api, caller, occurred_on, kind, channel, reference)
    except UpstreamRejected as exc:
        _say(request, "", "occurred_on", text("rejected", lang, reason=exc.reason))
        return RedirectResponse("/incidents#incident-heading", status_code=303)
    _say(request, text("incident_recorded", lang))
    return RedirectResponse("/incidents", status_code=303)


# The safety flag on a referral (registered before the referral actions' catch-all route)


@router.post("/referrals/{referral_id}/safety-flag", dependencies=[Depends(check_csrf)])
async def safety_flag(request: Request, referral_id: str) -> Any:
    """Set or clear "two staff on home visits"; assignment's refusal is said plainly on the page."""
    caller = caller_of(request)
    rid, lang = _id(referral_id), language(request)
    form = await _form(request)
    chosen = rules.SAFETY_FLAG if form.get("flag") == rules.SAFETY_FLAG else None
    try:
        await workenv.set_safety_flag(web(request).api, caller, rid, chosen)
    except UpstreamDenied:
        _say(request, text("safety_flag_denied", lang))
        return RedirectResponse(f"/referrals/{rid}", status_code=303)
    except UpstreamRejected as exc:
        _say(request, text("rejected", lang, reason=exc.reason))
        return RedirectResponse(f"/referrals/{rid}", status_code=303)
    _say(request, text("saved", lang))
    return RedirectResponse(f"/referrals/{rid}", status_code=303)


# The outcome report


@router.get("/outcome-report")
async def outcome_report(request: Request) -> Any:
    """The head of unit's outcome report: a from/to/change-date form, per measure a chart and tables."""
    caller = caller_of(request)
    if not caller.user.has_any("head_of_unit"):
        raise UpstreamDenied("head of unit only")
    context = web(request)
    values = {k: request.query_params.get(k, "").strip() for k in ("from", "to", "change_date")}
    today = context.clock.now().astimezone(STOCKHOLM).date()
    try:
        start, end, change = rules.report_window(values, today)
    except ValueError:
        return render(request, "outcome_report.html", 422, page=None, values=values, bad_day=True)
    try:
        page = await workenv.outcome_report(context.api, caller, start, end, change, language(request))
    except UpstreamRejected:  # assignment's period rules: at most three years, change date inside
        return render(request, "outcome_report.html", 422, page=None, values=values, bad_period=True)
    return render(request, "outcome_report.html", page=page, values=values)
