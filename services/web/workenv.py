"""Use cases of the working-environment pages (issue 22): fetch from assignment's staff API
(the `StaffApi` port), shape with the pure view models of `domain/workenv.py`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.web.domain import views, workenv
from services.web.domain.model import Caller, Consultation, OverloadFlag
from services.web.domain.texts import Language
from services.web.ports import StaffApi, UpstreamDenied

SLOT_DAYS = 28  # the meeting-times page shows the coming four weeks


async def own_flags(api: StaffApi, caller: Caller, language: Language) -> list[workenv.FlagRow]:
    """A caseworker's own flags with the manager's answers (assignment's `staff=me`)."""
    return workenv.flag_rows(await api.overload_flags(caller, {"staff": "me"}), language)


async def raise_flag(api: StaffApi, caller: Caller, note: str | None) -> None:
    """ "I am at my limit": the person themself, an optional short note."""
    await api.raise_overload_flag(caller, caller.user.staff_id, note)


async def flags_page(
    api: StaffApi, caller: Caller, open_only: bool, language: Language
) -> list[workenv.FlagRow]:
    """The flags a manager (own team) or the head (all) may see; assignment decides which."""
    query = {"open": "true"} if open_only else {}
    return workenv.flag_rows(await api.overload_flags(caller, query), language)


@dataclass(frozen=True)
class FlagPage:
    """One flag and, while it is open, the flagged person's open referrals to reassign."""

    flag: workenv.FlagRow
    referrals: list[views.QueueRow]


async def flag_page(
    api: StaffApi, caller: Caller, flag_id: str, now: datetime, language: Language
) -> FlagPage:
    """The flag page; UpstreamDenied when the caller may not see the flag (or it does not exist)."""
    flags, queue = await asyncio.gather(api.overload_flags(caller, {}), api.work_queue(caller, views.OPEN))
    flag = _find(flags, flag_id)
    theirs = [i for i in queue if i.caseworker == flag.staff]
    return FlagPage(workenv.flag_row(flag, language), views.queue_rows(theirs, now, language))


def _find(flags: list[OverloadFlag], flag_id: str) -> OverloadFlag:
    for flag in flags:
        if flag.flag_id == flag_id:
            return flag
    raise UpstreamDenied("no such flag for this caller")


async def respond(api: StaffApi, caller: Caller, flag_id: str, body: dict[str, object]) -> None:
    """The manager's answer: relieve, reassign or keep, with a comment."""
    await api.respond_overload_flag(caller, flag_id, body)


@dataclass(frozen=True)
class ConsultationsPage:
    """The coming meeting times, the user's consultations, and the one just booked, if any."""

    slots: list[workenv.SlotView]
    mine: list[workenv.ConsultationView]
    just_booked: workenv.ConsultationView | None


async def consultations_page(
    api: StaffApi, caller: Caller, now: datetime, language: Language, booked_id: str | None
) -> ConsultationsPage:
    """Slots of the coming four weeks (every team) and the caller's own consultations."""
    today = now.astimezone(views.STOCKHOLM).date()
    slots, mine = await asyncio.gather(
        api.meeting_slots(caller, None, today, today + timedelta(days=SLOT_DAYS)), api.consultations(caller)
    )
    shown = workenv.consultation_views(mine)
    just = next((c for c in shown if c.consultation_id == booked_id), None)
    return ConsultationsPage(workenv.slot_views(slots, caller.user, language), shown, just)


async def book(api: StaffApi, caller: Caller, topic: str, referral_id: str | None) -> Consultation:
    """Book the next free time of the right team (assignment chooses it and emails an invitation)."""
    return await api.book_consultation(caller, topic, referral_id)


async def cancel(api: StaffApi, caller: Caller, consultation_id: str) -> None:
    """Cancel a consultation (assignment emails the cancellation)."""
    await api.cancel_consultation(caller, consultation_id)


@dataclass(frozen=True)
class IncidentsPage:
    """For managers and the head: the quarter's incidents and its summary."""

    quarter: str
    rows: list[workenv.IncidentRow]
    summary: workenv.SummaryTable


async def incidents_page(api: StaffApi, caller: Caller, quarter: str) -> IncidentsPage:
    """The quarter's incidents (the caller's team, or all for the head) and their counts."""
    summary = await api.incident_summary(caller, quarter, None)
    query = {"from": summary.start.isoformat(), "to": summary.end.isoformat()}
    rows = workenv.incident_rows(await api.incidents(caller, query))
    return IncidentsPage(quarter, rows, workenv.summary_table(summary))


async def record_incident(
    api: StaffApi, caller: Caller, occurred_on: date, kind: str, channel: str, referral_id: str | None
) -> None:
    """Record a threat, violence or harassment; assignment tells the manager and occupational health."""
    await api.record_incident(caller, occurred_on, kind, channel, referral_id)


async def set_safety_flag(api: StaffApi, caller: Caller, referral_id: str, flag: str | None) -> None:
    """Set or clear "two staff on home visits" (assignment decides who may)."""
    await api.set_safety_flag(caller, referral_id, flag)


@dataclass(frozen=True)
class ReportPage:
    """The outcome report as tables and charts."""

    start: date
    end: date
    change_date: date | None
    generated_at: str
    measures: list[workenv.MeasureView]


async def outcome_report(
    api: StaffApi, caller: Caller, start: date, end: date, change_date: date | None, language: Language
) -> ReportPage:
    """Assignment's outcome report (the head of unit only), each measure with a chart."""
    report = await api.outcome_report(caller, start, end, change_date)
    return ReportPage(
        report.start,
        report.end,
        report.change_date,
        views.local_time(report.generated_at),
        [workenv.measure_view(m, report.change_date, language) for m in report.measures],
    )
