"""Use cases of the web app: fetch from the staff APIs (ports), shape with the pure view models.

Upstream errors pass through as the ports' exceptions; the HTTP edge turns them into pages.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from services.web.domain import board, views, workenv
from services.web.domain.model import Caller, OverloadFlag, WorkloadRow
from services.web.domain.texts import Language
from services.web.ports import StaffApi, UpstreamDenied


@dataclass(frozen=True)
class StartPage:
    """My work by role, and who is on duty."""

    rows: list[views.QueueRow]
    on_duty: views.OnDutyView | None
    queue_title: str
    own_load: views.LoadBar | None = None
    own_flags: list[workenv.FlagRow] | None = None  # a caseworker's "I am at my limit" history


async def start_page(api: StaffApi, caller: Caller, now: datetime, language: Language) -> StartPage:
    """The queue the user's role works from, the team on duty now, and the team that gets a
    referral arriving now (assignment applies its policy: outside office hours, under
    `next_office_hours`, the team on duty when the office next opens)."""
    queue, duty, arriving, own, flags = await asyncio.gather(
        api.work_queue(caller, views.queue_query(caller.user)),
        api.on_duty(caller, now),
        api.arriving(caller, now),
        _own_load(api, caller),
        _own_flags(api, caller),
    )
    title = "my_referrals" if views.queue_query(caller.user) else "incoming"
    own_load = views.load_bar(own, language) if own else None
    return StartPage(
        views.queue_rows(queue, now, language),
        views.on_duty_view(duty, arriving),
        title,
        own_load,
        None if flags is None else workenv.flag_rows(flags, language),
    )


async def _own_flags(api: StaffApi, caller: Caller) -> list[OverloadFlag] | None:
    """A caseworker's own overload flags with the manager's answers; nobody else flags."""
    return await api.overload_flags(caller, {"staff": "me"}) if caller.user.has_any("caseworker") else None


async def _own_load(api: StaffApi, caller: Caller) -> WorkloadRow | None:
    """A caseworker's own load against capacity; nobody else has one."""
    return await api.own_workload(caller) if caller.user.has_any("caseworker") else None


async def queue_page(
    api: StaffApi, caller: Caller, query: dict[str, str], now: datetime, language: Language
) -> list[views.QueueRow]:
    """One work queue, most urgent first."""
    return views.queue_rows(await api.work_queue(caller, query), now, language)


@dataclass(frozen=True)
class ReferralPage:
    """One referral: assignment state, its clocks in words, and which actions the user has."""

    referral_id: str
    team: str
    caseworker: str
    mentor: str | None
    status: str
    registered: bool
    deadlines: list[views.DeadlineView]
    may_decide: bool
    may_register: bool
    may_reassign: bool
    may_send_feedback: bool = False
    feedback_deadline: views.DeadlineView | None = None
    safety_flag: str | None = None
    safety_label: str = ""
    may_flag_safety: bool = False


async def referral_page(
    api: StaffApi, caller: Caller, referral_id: str, now: datetime, language: Language
) -> ReferralPage:
    """The referral page; UpstreamDenied when the user may not see it (or it does not exist)."""
    state = await api.referral(caller, referral_id)
    user = caller.user
    return ReferralPage(
        referral_id=state.referral_id,
        team=state.team,
        caseworker=state.caseworker,
        mentor=state.mentor,
        status=state.status,
        registered=state.registered,
        deadlines=views.deadline_views(state.deadlines, now, language),
        may_decide=user.has_any("caseworker", "manager"),
        may_register=user.has_any("intake", "manager") and not state.registered,
        may_reassign=user.has_any("manager", "head_of_unit"),
        may_send_feedback=user.has_any("caseworker", "manager"),
        feedback_deadline=next(
            (views.deadline_view(d, now, language) for d in state.deadlines if d.name == "reporter_feedback"),
            None,
        ),
        safety_flag=state.safety_flag,
        safety_label=views.safety_label(state.safety_flag, language),
        may_flag_safety=user.has_any("caseworker", "manager", "head_of_unit"),  # assignment decides
    )


async def dossier_page(api: StaffApi, caller: Caller, referral_id: str) -> dict[str, Any]:
    """The dossier; intake logs the read (or the refusal) before it answers."""
    return await api.dossier(caller, referral_id)


async def safety_flag(api: StaffApi, caller: Caller, referral_id: str, language: Language) -> str:
    """The referral's safety flag in words for the dossier page, from assignment ("" when none)."""
    state = await api.referral(caller, referral_id)
    return views.safety_label(state.safety_flag, language)


ACTIONS = ("acknowledge", "protection-assessment", "decision", "close", "reassign")


async def act_on_referral(
    api: StaffApi, caller: Caller, referral_id: str, action: str, fields: dict[str, str], now: datetime
) -> None:
    """One form's action on a referral, stamped with now where the API wants a time."""
    if action not in ACTIONS:
        raise UpstreamDenied("unknown action")
    body: dict[str, Any] = dict(fields)
    if action != "reassign" and action != "acknowledge":
        body["at"] = now.isoformat()
    await api.act(caller, referral_id, action, body)


FEEDBACK_CHANNELS = ("letter", "email")


async def feedback_sent(api: StaffApi, caller: Caller, referral_id: str, channel: str, now: datetime) -> None:
    """Record that the reporter was told now, by letter or email; the feedback clock stops."""
    await api.feedback_sent(caller, referral_id, now, channel)


async def register_case_number(
    api: StaffApi, caller: Caller, referral_id: str, number: str, now: datetime
) -> None:
    """Record the system of record's case number."""
    await api.register(caller, referral_id, number, now)


async def team_board(
    api: StaffApi, caller: Caller, now: datetime, language: Language, teams: frozenset[str] | None
) -> tuple[list[views.LoadBar], list[views.QueueRow]]:
    """Load bars per caseworker of `teams` (None: every team, for the head of unit) and the open
    referrals the user's role lists. The workload API answers for every team."""
    workload, queue = await asyncio.gather(api.workload(caller), api.work_queue(caller, views.OPEN))
    mine = [w for w in workload if teams is None or w.team in teams]
    bars = views.load_bars(mine, workload, language)
    return bars, views.queue_rows(queue, now, language)


async def add_absence(
    api: StaffApi, caller: Caller, staff_id: str, starts_on: date, ends_on: date, kind: str
) -> None:
    """Register an absence."""
    await api.add_absence(caller, staff_id, starts_on, ends_on, kind)


async def end_absence(api: StaffApi, caller: Caller, staff_id: str, back_on: date) -> None:
    """End a running absence early: the person takes referrals again from `back_on`."""
    await api.end_absence(caller, staff_id, back_on)


@dataclass(frozen=True)
class AccessLogPage:
    """One page of the access log for review, and the cursor of the next."""

    rows: list[views.LogRow]
    next_cursor: str | None


async def access_log_page(api: StaffApi, caller: Caller, query: dict[str, str]) -> AccessLogPage:
    """Rows of intake's access log the caller may review (intake decides which)."""
    rows, next_cursor = await api.read_access_log(caller, query)
    return AccessLogPage(views.log_rows(rows), next_cursor)


REVIEWS_SHOWN = 12  # a year of monthly reviews


async def access_reviews(api: StaffApi, caller: Caller, language: Language) -> list[views.ReviewView]:
    """The latest monthly access-log reviews (intake answers the head of unit only)."""
    return [views.review_view(r, language) for r in await api.access_reviews(caller, REVIEWS_SHOWN)]


SCHEDULE_DAYS = 56


async def rotation_page(api: StaffApi, caller: Caller, now: datetime) -> list[views.DutyRow]:
    """The on-duty periods of the coming eight weeks, overrides cut in (assignment computes them)."""
    today = now.astimezone(views.STOCKHOLM).date()
    return views.duty_rows(await api.schedule(caller, today, today + timedelta(days=SCHEDULE_DAYS)))


async def calendar_feeds(api: StaffApi, caller: Caller) -> list[views.FeedRow]:
    """The caller's calendar subscription links, newest first."""
    return views.feed_rows(await api.calendar_feeds(caller))


async def add_override(
    api: StaffApi, caller: Caller, team: str, starts_at: datetime, ends_at: datetime, reason: str
) -> None:
    """Put a team on duty for a while instead of the rotation's."""
    await api.add_override(caller, team, starts_at, ends_at, reason)


async def overview(api: StaffApi, caller: Caller) -> list[board.TeamSummary]:
    """The head of unit's overview: every team's open referrals, deadlines and balance."""
    queue, workload = await asyncio.gather(api.work_queue(caller, views.OPEN), api.workload(caller))
    return board.team_summaries(queue, workload)
