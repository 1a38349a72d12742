"""View models of the working-environment pages (issue 22): overload flags, meeting times and
consultations, threats and violence, the safety flag and the outcome report. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.web.domain.model import (
    Consultation,
    Incident,
    IncidentSummary,
    Measure,
    MeetingSlot,
    OverloadFlag,
    User,
)
from services.web.domain.texts import Language, text
from services.web.domain.views import STOCKHOLM, last_day, local_time

NOTE_MAX = 300
CAPACITY_CHOICES = (25, 50, 75)  # per cent of capacity kept while relieved
RESPONSES = ("relieve", "reassign", "keep")
INCIDENT_TYPES = ("threat", "violence", "harassment")
INCIDENT_CHANNELS = ("in_person", "home_visit", "phone", "email", "letter", "social_media", "other")
SAFETY_FLAG = "two_staff_home_visits"
PARTNER_PATHS = ("/consultations",)


def partner_may_open(path: str) -> bool:
    """A partner (colleague from elsewhere in social services) sees only the consultations page."""
    return any(path == p or path.startswith(p + "/") for p in PARTNER_PATHS)


def may_open(user: User, path: str) -> bool:
    """Whether a signed-in user may open a page at all (the APIs still decide what it shows)."""
    return not user.partner_only or partner_may_open(path)


def duration_words(seconds: float | None, language: Language) -> str:
    """A response time in plain words: "3 tim 5 min", "2 d 4 tim"; a dash when there is none."""
    if seconds is None:
        return "–"
    minutes = max(round(seconds / 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(text("n_days_short", language, n=days))
    if hours:
        parts.append(text("n_hours_short", language, n=hours))
    if mins or not parts:
        parts.append(text("n_minutes_short", language, n=mins))
    return " ".join(parts)


@dataclass(frozen=True)
class FlagRow:
    """One overload flag as a table row and as the flag page's facts."""

    flag_id: str
    staff: str
    team: str
    note: str
    raised: str
    open: bool
    state_label: str
    escalated: str | None
    answer: str
    response_time: str
    comment: str
    responded_by: str


def flag_row(flag: OverloadFlag, language: Language) -> FlagRow:
    """A flag in words: open or the manager's answer, and how long the answer took."""
    return FlagRow(
        flag_id=flag.flag_id,
        staff=flag.staff,
        team=flag.team,
        note=flag.note or "",
        raised=local_time(flag.raised_at),
        open=flag.responded_at is None,
        state_label=text("flag_open" if flag.responded_at is None else "flag_answered", language),
        escalated=local_time(flag.escalated_at) if flag.escalated_at else None,
        answer=answer_words(flag, language),
        response_time=duration_words(flag.response_seconds, language),
        comment=flag.comment or "",
        responded_by=flag.responded_by or "",
    )


def answer_words(flag: OverloadFlag, language: Language) -> str:
    """The manager's answer in words, or "" while the flag is open."""
    if flag.action == "relieve":
        factor = round((flag.capacity_factor or 0) * 100)
        until = last_day(flag.until).isoformat() if flag.until else "–"
        return text("answer_relieve", language, percent=factor, until=until)
    if flag.action == "reassign":
        return text("answer_reassign", language, n=flag.reassigned or 0)
    if flag.action == "keep":
        return text("answer_keep", language)
    return ""


def flag_rows(flags: list[OverloadFlag], language: Language) -> list[FlagRow]:
    """Open flags first (oldest first: they wait longest), then answered ones, newest first."""
    waiting = sorted((f for f in flags if f.responded_at is None), key=lambda f: f.raised_at)
    answered = sorted(
        (f for f in flags if f.responded_at is not None), key=lambda f: f.raised_at, reverse=True
    )
    return [flag_row(f, language) for f in [*waiting, *answered]]


def response_body(form: dict[str, str], today: date | None = None) -> dict[str, object]:
    """The response API body of the flag page's form; ValueError naming the field to fix. With
    `today` (Stockholm), a relief's last day before it is refused here, as assignment would."""
    action = form.get("action", "")
    comment = form.get("comment", "").strip()
    if action not in RESPONSES:
        raise ValueError("action")
    if not comment:
        raise ValueError("comment")
    body: dict[str, object] = {"action": action, "comment": comment}
    if action == "relieve":
        percent = form.get("capacity_percent", "")
        if percent not in {str(c) for c in CAPACITY_CHOICES}:
            raise ValueError("capacity_percent")
        try:
            until = date.fromisoformat(form.get("until", ""))
        except ValueError:
            raise ValueError("until") from None
        if today is not None and until < today:
            raise ValueError("until")
        end_of_day = datetime.combine(until + timedelta(days=1), datetime.min.time(), STOCKHOLM)
        body |= {"capacity_factor": int(percent) / 100, "until": end_of_day.isoformat()}
    if action == "reassign":
        ids = [i for i in form.get("referral_ids", "").split(",") if i]
        if not ids:
            raise ValueError("referral_ids")
        body["referral_ids"] = ids
    return body


@dataclass(frozen=True)
class BookingView:
    """One bookable time of a consultation slot."""

    time: str
    booked: bool
    mine: bool
    requester: str | None


@dataclass(frozen=True)
class SlotView:
    """One fixed meeting time as listed."""

    slot: str
    kind: str
    kind_label: str
    title: str
    counterpart: str
    teams: str
    day: str
    time: str
    bookings: tuple[BookingView, ...]
    free: int


def _clock(at: datetime) -> str:
    return at.astimezone(STOCKHOLM).strftime("%H:%M")


def slot_views(slots: list[MeetingSlot], user: User, language: Language) -> list[SlotView]:
    """The slots in time order, each booking free or booked (and whose, where the API says)."""
    views = []
    for s in sorted(slots, key=lambda s: (s.starts_at, s.slot)):
        local = s.starts_at.astimezone(STOCKHOLM)
        bookings = tuple(
            BookingView(
                f"{_clock(b.starts_at)}–{_clock(b.ends_at)}",
                b.booked,
                b.requester == user.staff_id,
                b.requester,
            )
            for b in s.bookings
        )
        views.append(
            SlotView(
                slot=s.slot,
                kind=s.kind,
                kind_label=text(f"slot_{s.kind}", language),
                title=s.title,
                counterpart=s.counterpart or "",
                teams=", ".join(s.teams) if s.teams else text("all_teams", language),
                day=f"{text(f'weekday_{local.weekday()}', language)} {local.date().isoformat()}",
                time=f"{_clock(s.starts_at)}–{_clock(s.ends_at)}",
                bookings=bookings,
                free=sum(1 for b in bookings if not b.booked),
            )
        )
    return views


@dataclass(frozen=True)
class ConsultationView:
    """One of the user's consultations."""

    consultation_id: str
    team: str
    when: str
    topic: str
    referral_id: str
    cancelled: bool


def consultation_views(items: list[Consultation]) -> list[ConsultationView]:
    """The user's consultations, coming ones first, cancelled ones last."""
    ordered = sorted(items, key=lambda c: (c.cancelled_at is not None, c.starts_at))
    return [
        ConsultationView(
            c.consultation_id,
            c.team,
            f"{local_time(c.starts_at)}–{_clock(c.ends_at)}",
            c.topic,
            c.referral_id or "",
            c.cancelled_at is not None,
        )
        for c in ordered
    ]


def quarter_of(day: date) -> str:
    """The quarter a day is in, as the summary API names it: "2026Q4"."""
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def well_formed_quarter(value: str) -> bool:
    """ "2026Q1" … "2026Q4"."""
    return len(value) == 6 and value[:4].isdigit() and value[4] == "Q" and value[5] in "1234"


@dataclass(frozen=True)
class SummaryTable:
    """The quarterly summary as a table: a row per team, a column per type, and totals."""

    types: tuple[str, ...]
    rows: tuple[tuple[str, tuple[int, ...], int], ...]
    totals: tuple[int, ...]
    total: int
    channels: tuple[tuple[str, int], ...]


def summary_table(summary: IncidentSummary) -> SummaryTable:
    """Counts by team and type (every type a column, zeros shown), totals, and by channel."""
    totals = dict(summary.by_type)
    rows = tuple(
        (team or "–", tuple(dict(counts).get(t, 0) for t in INCIDENT_TYPES), sum(dict(counts).values()))
        for team, counts in summary.by_team
    )
    return SummaryTable(
        INCIDENT_TYPES,
        rows,
        tuple(totals.get(t, 0) for t in INCIDENT_TYPES),
        summary.total,
        summary.by_channel,
    )


# The outcome report's charts: server-rendered SVG, no script and no style attributes.
CHART_WIDTH, CHART_HEIGHT, CHART_LEFT, CHART_BOTTOM, CHART_TOP = 640, 240, 48, 36, 12


@dataclass(frozen=True)
class Bar:
    """One month's bar of a chart, in SVG user units."""

    x: float
    y: float
    width: float
    height: float
    label: str
    value: str
    after_change: bool


@dataclass(frozen=True)
class Chart:
    """A measure's monthly values as bars, with the axis maximum and a change-date marker."""

    width: int
    height: int
    bars: tuple[Bar, ...]
    axis_max: str
    baseline: float
    change_x: float | None


@dataclass(frozen=True)
class MeasureView:
    """A measure of the outcome report as a table and a chart."""

    id: str
    title: str
    unit_label: str
    months: tuple[tuple[str, str], ...]
    team_months: tuple[tuple[str, str, str], ...]
    before: str
    after: str
    whole: str
    chart: Chart


def number_words(value: float | None, unit: str, language: Language) -> str:
    """A value as shown: shares as per cent, the rest with at most two decimals; "–" when none."""
    if value is None:
        return "–"
    shown = f"{value * 100:.0f} %" if unit == "share" else f"{value:.2f}".rstrip("0").rstrip(".")
    return shown.replace(".", ",") if language == "sv" else shown


def chart(measure: Measure, change_date: date | None, language: Language) -> Chart:
    """Bars of the unit's monthly values (team rows are in the table); the scale starts at zero."""
    unit_rows = [m for m in measure.monthly if m.team is None]
    values = [m.value for m in unit_rows if m.value is not None]
    top = max([*values, 0.0]) or 1.0
    plot_w = CHART_WIDTH - CHART_LEFT - 8
    plot_h = CHART_HEIGHT - CHART_BOTTOM - CHART_TOP
    step = plot_w / max(len(unit_rows), 1)
    change = change_date.strftime("%Y-%m") if change_date else None
    bars = []
    change_x = None
    for i, m in enumerate(unit_rows):
        x = CHART_LEFT + i * step
        if change is not None and change_x is None and m.month >= change:
            change_x = round(x, 1)
        height = 0.0 if m.value is None else plot_h * m.value / top
        bars.append(
            Bar(
                round(x + step * 0.15, 1),
                round(CHART_TOP + plot_h - height, 1),
                round(step * 0.7, 1),
                round(height, 1),
                m.month,
                number_words(m.value, measure.unit, language),
                change is not None and m.month >= change,
            )
        )
    return Chart(
        CHART_WIDTH,
        CHART_HEIGHT,
        tuple(bars),
        number_words(top, measure.unit, language),
        CHART_TOP + plot_h,
        change_x,
    )


def measure_view(measure: Measure, change_date: date | None, language: Language) -> MeasureView:
    """One measure: the unit's months, the teams' months, before/after, and the chart."""

    def show(value: float | None) -> str:
        return number_words(value, measure.unit, language)

    return MeasureView(
        id=measure.id,
        title=measure.title_sv if language == "sv" else measure.title_en,
        unit_label=text(f"unit_{measure.unit}", language),
        months=tuple((m.month, show(m.value)) for m in measure.monthly if m.team is None),
        team_months=tuple((m.month, m.team, show(m.value)) for m in measure.monthly if m.team is not None),
        before=show(measure.before),
        after=show(measure.after),
        whole=show(measure.whole),
        chart=chart(measure, change_date, language),
    )


def report_window(values: dict[str, str], today: date) -> tuple[date, date, date | None]:
    """The report form's from/to/change date; by default the last twelve whole months. ValueError
    for a bad day or a window that runs backwards."""
    first_of_month = today.replace(day=1)
    default_from = first_of_month.replace(year=first_of_month.year - 1)
    start = date.fromisoformat(values["from"]) if values.get("from") else default_from
    end = date.fromisoformat(values["to"]) if values.get("to") else first_of_month - timedelta(days=1)
    change = date.fromisoformat(values["change_date"]) if values.get("change_date") else None
    if end < start:
        raise ValueError("to")
    return start, end, change


@dataclass(frozen=True)
class IncidentRow:
    """One recorded incident as a table row (codes only)."""

    occurred_on: str
    type: str
    channel: str
    team: str
    recorded_by: str
    referral_id: str


def incident_rows(incidents: list[Incident]) -> list[IncidentRow]:
    """Incidents, the latest first."""
    ordered = sorted(incidents, key=lambda i: (i.occurred_on, i.recorded_at), reverse=True)
    return [
        IncidentRow(
            i.occurred_on.isoformat(), i.type, i.channel, i.team or "–", i.recorded_by, i.referral_id or ""
        )
        for i in ordered
    ]
