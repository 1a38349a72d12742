"""View models: what a page shows, computed from API values, the user, the language and now."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.web.domain.model import (
    UNIT_ROLES,
    AccessLogRow,
    CalendarFeed,
    Deadline,
    OnDuty,
    QueueItem,
    SentReview,
    User,
    WorkloadRow,
)
from services.web.domain.texts import Language, text

STOCKHOLM = ZoneInfo("Europe/Stockholm")
CLOCK_ORDER = (
    "protection_assessment",
    "preliminary_assessment",
    "investigation",
    "reporter_feedback",
    "registration",
)


def last_day(until: datetime) -> date:
    """The last Stockholm day an end instant covers: a midnight ends the day before it."""
    local = until.astimezone(STOCKHOLM)
    return local.date() - timedelta(days=1) if local.time() == time(0) else local.date()


def local_time(at: datetime) -> str:
    """An instant as Stockholm wall-clock time, `2026-12-06 09:30`."""
    return at.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")


def deadline_phrase(due_at: datetime, now: datetime, language: Language) -> str:
    """ "Due in 2 days" / "overdue by 3 hours": days counted on Stockholm calendar dates."""
    days = (due_at.astimezone(STOCKHOLM).date() - now.astimezone(STOCKHOLM).date()).days
    if due_at < now:
        hours = math.floor((now - due_at) / timedelta(hours=1))
        if hours < 24:
            return _counted("overdue_hours", "overdue_one_hour", max(hours, 1), language)
        return _counted("overdue_days", "overdue_one_day", hours // 24, language)
    if days == 0:
        hours = math.ceil((due_at - now) / timedelta(hours=1))
        if hours > 12:
            return text("due_today", language)
        return _counted("due_in_hours", "due_in_one_hour", hours, language)
    if days == 1:
        return text("due_in_one_day", language)
    return text("due_in_days", language, n=days)


def _counted(many: str, one: str, n: int, language: Language) -> str:
    return text(one, language) if n == 1 else text(many, language, n=n)


@dataclass(frozen=True)
class DeadlineView:
    """One clock as shown: its name, state word, due time and plain-words phrase."""

    name: str
    state: str
    state_label: str
    due_at: str
    phrase: str


def deadline_view(deadline: Deadline, now: datetime, language: Language) -> DeadlineView:
    """How one deadline reads on a page."""
    state = deadline.state
    if deadline.met_at is None and state == "ok" and deadline.due_at < now:
        state = "breached"  # assignment's referral view gives due times, not states
    if deadline.met_at is not None:
        phrase = text("done_at", language, at=local_time(deadline.met_at))
    elif deadline.state == "stopped":
        phrase = text("state_stopped", language)
    else:
        phrase = deadline_phrase(deadline.due_at, now, language)
    return DeadlineView(
        name=text(f"clock_{deadline.name}", language),
        state=state,
        state_label=text(f"state_{state}", language),
        due_at=local_time(deadline.due_at),
        phrase=phrase,
    )


def deadline_views(deadlines: tuple[Deadline, ...], now: datetime, language: Language) -> list[DeadlineView]:
    """Every clock of a referral in the order the law runs them."""
    order = {name: i for i, name in enumerate(CLOCK_ORDER)}
    ranked = sorted(deadlines, key=lambda d: (order.get(d.name, len(order)), d.due_at))
    return [deadline_view(d, now, language) for d in ranked]


@dataclass(frozen=True)
class QueueRow:
    """One line of a work queue."""

    referral_id: str
    team: str
    caseworker: str
    status: str
    received: str
    acute: bool
    registered: bool
    state: str
    state_label: str
    next_deadline: str
    next_phrase: str
    safety: str = ""


def queue_row(item: QueueItem, now: datetime, language: Language) -> QueueRow:
    """A queue item as a table row: the earliest open clock and its state in words."""
    open_clocks = sorted(
        (d for d in item.deadlines if d.met_at is None and d.state != "stopped"), key=lambda d: d.due_at
    )
    first = open_clocks[0] if open_clocks else None
    return QueueRow(
        referral_id=item.referral_id,
        team=item.team,
        caseworker=item.caseworker,
        status=text(f"status_{item.status}", language),
        received=local_time(item.received_at),
        acute=item.acute,
        registered=item.registered,
        state=item.deadline_state,
        state_label=text(f"state_{item.deadline_state}", language),
        next_deadline=text(f"clock_{first.name}", language) if first else "",
        next_phrase=deadline_phrase(first.due_at, now, language) if first else "",
        safety=safety_label(item.safety_flag, language),
    )


def safety_label(flag: str | None, language: Language) -> str:
    """A referral's safety flag in words ("Två personal vid hembesök"), "" when it has none."""
    return text(f"safety_{flag}", language) if flag else ""


def queue_rows(items: list[QueueItem], now: datetime, language: Language) -> list[QueueRow]:
    """A queue with the most urgent first: breached, then approaching, then by next due time."""
    rank = {"breached": 0, "approaching": 1, "ok": 2}
    far = datetime.max.replace(tzinfo=now.tzinfo)
    ordered = sorted(items, key=lambda i: (rank[i.deadline_state], i.next_due_at or far, i.referral_id))
    return [queue_row(i, now, language) for i in ordered]


@dataclass(frozen=True)
class LoadBar:
    """A caseworker's weighted load against capacity, for a `<meter>` (no inline style needed)."""

    staff_id: str
    team: str
    open_cases: int
    load: float
    capacity: float
    meter_max: float
    over_capacity: bool
    label: str
    mentor: str | None
    absences: tuple[str, ...]
    new_hire: bool = False
    mentor_load: str | None = None
    mentees: tuple[str, ...] = ()
    overload: str = ""  # "open" | "relieved" | ""
    overload_flag_id: str = ""
    overload_label: str = ""


def load_bars(
    shown: Sequence[WorkloadRow], everyone: Sequence[WorkloadRow], language: Language
) -> list[LoadBar]:
    """Bars of `shown` by team and staff id; a new hire's bar names the mentor and the mentor's load
    in words (from the mentor's own row among `everyone`, who may be in another team)."""
    by_id = {r.staff_id: r for r in everyone}
    ordered = sorted(shown, key=lambda r: (r.team, r.staff_id))
    return [load_bar(r, language, by_id.get(r.mentor or "")) for r in ordered]


def load_bar(row: WorkloadRow, language: Language, mentor: WorkloadRow | None = None) -> LoadBar:
    """A workload row as a bar: the scale reaches past capacity so that overload shows."""
    mentor_load = (
        text("load_of_capacity", language, load=f"{mentor.weighted_load:g}", capacity=f"{mentor.capacity:g}")
        if mentor is not None and row.new_hire
        else None
    )
    return LoadBar(
        staff_id=row.staff_id,
        team=row.team,
        open_cases=row.open_cases,
        load=row.weighted_load,
        capacity=row.capacity,
        meter_max=max(row.capacity, row.weighted_load, 1.0),
        over_capacity=row.weighted_load > row.capacity,
        label=text("load_of_capacity", language, load=f"{row.weighted_load:g}", capacity=f"{row.capacity:g}"),
        mentor=row.mentor,
        absences=tuple(
            f"{text(f'kind_{a.kind}', language)} {a.starts_on.isoformat()}–{a.ends_on.isoformat()}"
            for a in row.absences
        ),
        new_hire=row.new_hire,
        mentor_load=mentor_load,
        mentees=row.mentees,
        **_overload_badge(row, language),
    )


def _overload_badge(row: WorkloadRow, language: Language) -> dict[str, str]:
    """The team board's badge of an overload flag: at their limit (open) or relieved until a day."""
    flag = row.overload
    if flag is None:
        return {}
    if flag.state == "open":
        label = text("flag_badge_open", language)
    else:
        until = last_day(flag.until).isoformat() if flag.until else ""
        label = f"{text('flag_relieved', language)} {text('until', language)} {until}".strip()
    return {"overload": flag.state, "overload_flag_id": flag.flag_id, "overload_label": label}


@dataclass(frozen=True)
class OnDutyView:
    """The "on duty now / a referral arriving now goes to" panel."""

    team_now: str
    until: str
    arriving_now_goes_to: str
    by_override: bool


@dataclass(frozen=True)
class DutyRow:
    """One on-duty period of the rotation calendar."""

    team: str
    starts: str
    ends: str
    by_override: bool


def duty_rows(periods: list[OnDuty]) -> list[DutyRow]:
    """The schedule as rows, in Stockholm time."""
    return [
        DutyRow(p.team, local_time(p.period_start), local_time(p.period_end), p.source == "override")
        for p in periods
    ]


@dataclass(frozen=True)
class FeedRow:
    """One calendar subscription link in the owner's list."""

    id: int
    created: str
    expires: str
    last_used: str | None
    active: bool


def feed_rows(feeds: list[CalendarFeed]) -> list[FeedRow]:
    """The caller's links, newest first, in Stockholm time."""
    return [
        FeedRow(
            f.id,
            local_time(f.created_at),
            local_time(f.expires_at),
            local_time(f.last_used_at) if f.last_used_at else None,
            f.active,
        )
        for f in sorted(feeds, key=lambda f: f.id, reverse=True)
    ]


def local_instant(value: str) -> datetime:
    """A `datetime-local` form value (Stockholm wall-clock time) as an aware instant; ValueError
    for anything else."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        raise ValueError("a local time without offset is expected")
    return parsed.replace(tzinfo=STOCKHOLM)


@dataclass(frozen=True)
class LogRow:
    """One access-log row as shown."""

    at: str
    staff: str
    role: str
    relation: str
    referral_id: str
    action: str
    outcome: str
    reason: str


def log_rows(rows: list[AccessLogRow]) -> list[LogRow]:
    """Access-log rows in Stockholm time."""
    return [
        LogRow(
            local_time(r.at), r.staff, r.role, r.relation, r.referral_id, r.action, r.outcome, r.reason or ""
        )
        for r in rows
    ]


LOG_FILTERS = ("staff", "referral", "from", "to", "cursor")


def log_query(values: dict[str, str]) -> dict[str, str]:
    """The access-log query of the review page's filters: days become Stockholm midnights (`to`
    inclusive, so the next midnight); empty fields are left out. ValueError for a bad day."""
    query = {k: v.strip() for k, v in values.items() if k in LOG_FILTERS and v.strip()}
    for key, extra in (("from", 0), ("to", 1)):
        if key in query:
            day = date.fromisoformat(query[key]) + timedelta(days=extra)
            query[key] = datetime.combine(day, time(0), STOCKHOLM).isoformat()
    return query


def on_duty_view(now_duty: OnDuty, arriving_now: OnDuty) -> OnDutyView:
    """`arriving_now` is the team on duty at the instant the office-hours policy assigns to now."""
    return OnDutyView(
        team_now=now_duty.team,
        until=local_time(now_duty.period_end),
        arriving_now_goes_to=arriving_now.team,
        by_override=now_duty.source == "override",
    )


@dataclass(frozen=True)
class NavLink:
    """One entry of the main menu."""

    path: str
    label: str


def navigation(user: User, language: Language) -> list[NavLink]:
    """The pages a user's roles open, in the order of their working day."""
    if user.partner_only:  # colleagues elsewhere in social services book consultations, nothing else
        return [NavLink("/consultations", text("meeting_times", language))]
    links = [NavLink("/", text("start", language))]
    if user.has_any("caseworker"):
        links.append(NavLink("/referrals", text("my_referrals", language)))
    if user.has_any("intake"):
        links.append(NavLink("/incoming", text("incoming", language)))
    if user.has_any("manager", "head_of_unit"):
        links.append(NavLink("/team", text("team_board", language)))
        links.append(NavLink("/rotation", text("rotation", language)))
        links.append(NavLink("/overload-flags", text("overload_flags", language)))
    if user.has_any("head_of_unit"):
        links.append(NavLink("/overview", text("overview", language)))
        links.append(NavLink("/access-log", text("access_log", language)))
        links.append(NavLink("/outcome-report", text("outcome_report", language)))
    if user.has_any(*UNIT_ROLES):
        links.append(NavLink("/consultations", text("meeting_times", language)))
        links.append(NavLink("/incidents", text("incidents", language)))
    return links


OPEN = {"open": "true"}
"""Current work only: without it the staff API lists a team's (or the unit's) closed history too."""


def queue_query(user: User) -> dict[str, str]:
    """The work-queue filter a user's start page asks for (the staff API scopes it by role)."""
    if user.has_any("caseworker") and not user.has_any("manager", "head_of_unit", "intake"):
        return {"assignee": "me", "open": "true"}
    if user.has_any("intake"):
        return {}  # intake's queue: open referrals and closed ones still to be registered
    return OPEN


def is_idle(last_seen: datetime, now: datetime, idle_timeout: timedelta) -> bool:
    """Whether a session has been unused longer than the idle timeout."""
    return now - last_seen >= idle_timeout


def safe_return_path(path: str | None) -> str:
    """A local path to return to after sign-in; anything else (another host, `//x`) becomes `/`."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


@dataclass(frozen=True)
class ReviewView:
    """A monthly access-log review as the head of unit's list shows it."""

    month: str
    sent: str
    entries: str
    findings: tuple[str, ...]
    anchor: str
    log_link: str


def month_days(month: str) -> tuple[date, date]:
    """The first and the last day of `month` ("YYYY-MM"); ValueError for anything else."""
    first = date.fromisoformat(f"{month}-01")
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, following - timedelta(days=1)


def review_view(review: SentReview, language: Language) -> ReviewView:
    """Figures in words; the anchor as `#seq` and the hash; a link to the month's rows (the page's
    day filters, Stockholm days, the last day included)."""
    first, last = month_days(review.month)
    missing = text("not_recorded", language)
    findings = tuple(
        f"{text(f'finding_{kind}', language)}: {count}" for kind, count in review.findings or () if count
    )
    none_found = () if review.findings is None else (text("no_findings", language),)
    return ReviewView(
        month=review.month,
        sent=local_time(review.sent_at),
        entries=missing if review.entries is None else str(review.entries),
        findings=findings or none_found or (missing,),
        anchor=missing
        if review.chain_seq is None
        else f"#{review.chain_seq} {review.chain_hash or ''}".strip(),
        log_link=f"/access-log?from={first.isoformat()}&to={last.isoformat()}",
    )
