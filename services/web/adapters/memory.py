"""In-memory fakes of the web app's ports: a staff API that applies the same who-may rules as
the real services (in a simplified form) and records what was done, and a session store."""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.web.domain.model import (
    UNIT_ROLES,
    Absence,
    AccessLogRow,
    Booking,
    CalendarFeed,
    Caller,
    Consultation,
    Incident,
    IncidentSummary,
    MeetingSlot,
    OnDuty,
    OutcomeReport,
    Overload,
    OverloadFlag,
    QueueItem,
    RaisedFlag,
    ReferralState,
    SentReview,
    WorkloadRow,
)
from services.web.ports import (
    Session,
    UpstreamDenied,
    UpstreamRejected,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)

_ACTIONS = {
    "acknowledge": {"caseworker", "intake", "manager"},
    "protection-assessment": {"caseworker", "intake", "manager"},
    "decision": {"caseworker", "manager"},
    "close": {"caseworker", "manager"},
    "reassign": {"manager", "head_of_unit"},
}
NOTE_MAX = 300
INCIDENT_TYPES = ("threat", "violence", "harassment")
INCIDENT_CHANNELS = ("in_person", "home_visit", "phone", "email", "letter", "social_media", "other")
SAFETY_FLAGS = ("two_staff_home_visits",)
REPORT_MAX_DAYS = 3 * 366  # assignment's longest outcome report
QUARTER_YEARS = (2000, 2100)  # the quarters assignment summarises
NO_TEAM = "no_team"  # the summary's key for incidents recorded by intake or the head of unit
_STATUS_AFTER = {
    "acknowledge": "acknowledged",
    "protection-assessment": "protection_assessed",
    "close": "closed",
}


@dataclass
class FakeStaffApi:
    """StaffApi in memory. `teams` maps a manager's staff id to their team; `valid_tokens` (when
    set) are the only tokens accepted, like the real services' signature check."""

    queue: dict[str, QueueItem] = field(default_factory=dict)
    dossiers: dict[str, dict[str, Any]] = field(default_factory=dict)
    workloads: list[WorkloadRow] = field(default_factory=list)
    duties: list[OnDuty] = field(default_factory=list)
    teams: dict[str, str] = field(default_factory=dict)
    assignment_moment: Callable[[datetime], datetime] = lambda at: at
    """Arrival → the instant whose team takes it (assignment's policy; the identity is its
    `received_at` policy; tests set what `next_office_hours` would give)."""
    valid_tokens: set[str] | None = None
    log_at: datetime = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # when the fake's log rows were written
    log_page: int = 50
    down: bool = False  # every call fails as if the service did not answer (the 503 page)
    done: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)
    access_log: list[tuple[str, str, str]] = field(default_factory=list)
    reviews: list[SentReview] = field(default_factory=list)  # latest month first, as intake lists them
    feeds: dict[int, tuple[str, CalendarFeed]] = field(default_factory=dict)  # id: owner, feed
    feed_base: str = "http://assignment.test/v1/rotation/calendar/"
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    flags: dict[str, OverloadFlag] = field(default_factory=dict)
    slots: list[MeetingSlot] = field(default_factory=list)
    booked: dict[str, Consultation] = field(default_factory=dict)
    recorded_incidents: list[Incident] = field(default_factory=list)
    report: OutcomeReport | None = None
    escalate_after: timedelta = timedelta(hours=4)  # the real rule counts office hours

    async def work_queue(self, caller: Caller, query: dict[str, str]) -> list[QueueItem]:
        """The items the caller's role may list, filtered like the real queue."""
        self._check(caller)
        items = [i for i in self.queue.values() if self._may_list(caller, i)]
        if query.get("open") == "true":
            items = [i for i in items if i.status != "closed"]
        if query.get("assignee") == "me":
            items = [i for i in items if i.caseworker == caller.user.staff_id]
        if "team" in query:
            items = [i for i in items if i.team == query["team"]]
        return items

    async def referral(self, caller: Caller, referral_id: str) -> ReferralState:
        """The assignment state (any staff role may read it: it holds no client details), or
        UpstreamDenied when unknown."""
        self._check(caller)
        item = self.queue.get(referral_id)
        if item is None:
            raise UpstreamDenied("404")
        return ReferralState(
            referral_id=item.referral_id,
            team=item.team,
            caseworker=item.caseworker,
            mentor=None,
            reason="rotation",
            explanation="",
            status=item.status,
            deadlines=item.deadlines,
            registered=item.registered,
            safety_flag=item.safety_flag,
        )

    async def dossier(self, caller: Caller, referral_id: str) -> dict[str, Any]:
        """The dossier for those with a need to know; every attempt is logged first."""
        self._check(caller)
        try:
            self._visible(caller, referral_id)
        except UpstreamDenied:
            self.access_log.append((caller.user.staff_id, referral_id, "denied"))
            raise
        self.access_log.append((caller.user.staff_id, referral_id, "read"))
        return self.dossiers.get(referral_id, {"referral_id": referral_id})

    async def act(self, caller: Caller, referral_id: str, action: str, body: dict[str, Any]) -> None:
        """Record an action and move the status on; 403 without the role."""
        item = self._visible(caller, referral_id)
        if not caller.user.has_any(*_ACTIONS[action]):
            raise UpstreamDenied("403")
        if action == "reassign":
            item = dataclasses.replace(item, caseworker=body["caseworker"])
        elif action == "decision":  # as assignment: no investigation closes the case at once
            opened = body.get("decision") == "open_investigation"
            item = dataclasses.replace(item, status="investigating" if opened else "closed")
        else:
            item = dataclasses.replace(item, status=_STATUS_AFTER[action])
        self.queue[referral_id] = item
        self.done.append((caller.user.staff_id, referral_id, action, body))

    async def register(self, caller: Caller, referral_id: str, case_number: str, at: datetime) -> None:
        """Idempotent for the same number, rejected for a different one."""
        item = self._visible(caller, referral_id)
        if not caller.user.has_any("intake", "manager"):
            raise UpstreamDenied("403")
        earlier = [d for d in self.done if d[1] == referral_id and d[2] == "registration"]
        if earlier and earlier[0][3]["system_case_number"] != case_number:
            raise UpstreamRejected("Conflict")
        self.queue[referral_id] = dataclasses.replace(item, registered=True)
        self.done.append(
            (caller.user.staff_id, referral_id, "registration", {"system_case_number": case_number})
        )

    async def workload(self, caller: Caller) -> list[WorkloadRow]:
        """Every caseworker's load, for managers and the head of unit (as the real API: unfiltered)."""
        self._check(caller)
        if caller.user.has_any("manager", "head_of_unit"):
            return list(self.workloads)
        raise UpstreamDenied("403")

    async def own_workload(self, caller: Caller) -> WorkloadRow | None:
        """Anyone's own row, or None for someone who is no caseworker."""
        self._check(caller)
        return next((w for w in self.workloads if w.staff_id == caller.user.staff_id), None)

    async def feedback_sent(self, caller: Caller, referral_id: str, sent_at: datetime, channel: str) -> None:
        """Those who may read the referral; refused (409) before a decision, as intake does."""
        item = self._visible(caller, referral_id)
        if item.status not in ("investigating", "closed"):
            raise UpstreamRejected("Conflict")
        self.done.append((caller.user.staff_id, referral_id, "feedback-sent", {"channel": channel}))

    async def add_absence(
        self, caller: Caller, staff_id: str, starts_on: date, ends_on: date, kind: str
    ) -> None:
        """Managers, the head of unit, or the person themself."""
        self._check(caller)
        if not (caller.user.has_any("manager", "head_of_unit") or caller.user.staff_id == staff_id):
            raise UpstreamDenied("403")
        if ends_on < starts_on:
            raise UpstreamRejected("Unprocessable Entity; ends_on")
        self.workloads = [
            dataclasses.replace(w, absences=(*w.absences, Absence(starts_on, ends_on, kind)))
            if w.staff_id == staff_id
            else w
            for w in self.workloads
        ]
        self.done.append((caller.user.staff_id, staff_id, "absence", {"kind": kind}))

    async def end_absence(self, caller: Caller, staff_id: str, back_on: date) -> None:
        """The person, their team's manager (`teams`) or the head; 409 when none runs then."""
        self._check(caller)
        user, row = caller.user, next((w for w in self.workloads if w.staff_id == staff_id), None)
        related = user.staff_id == staff_id or user.has_any("head_of_unit")
        managing = user.has_any("manager") and row is not None and self.teams.get(user.staff_id) == row.team
        if not (related or managing):
            raise UpstreamDenied("403")
        running = [a for a in (row.absences if row else ()) if a.starts_on < back_on <= a.ends_on]
        if row is None or not running:
            raise UpstreamRejected("Conflict; back_on")
        cut = tuple(
            dataclasses.replace(a, ends_on=back_on - timedelta(days=1)) if a in running else a
            for a in row.absences
        )
        self.workloads = [dataclasses.replace(w, absences=cut) if w is row else w for w in self.workloads]
        self.done.append((user.staff_id, staff_id, "absence-end", {"back_on": back_on.isoformat()}))

    async def schedule(self, caller: Caller, start: date, end: date) -> list[OnDuty]:
        """The configured periods overlapping the days (overrides come first where they cover)."""
        self._check(caller)
        lo = datetime.combine(start, datetime.min.time(), UTC) - timedelta(days=1)
        hi = datetime.combine(end, datetime.min.time(), UTC) + timedelta(days=2)
        return sorted(
            (p for p in self.duties if p.period_start < hi and p.period_end > lo),
            key=lambda p: (p.period_start, p.source != "override"),
        )

    async def add_override(
        self, caller: Caller, team: str, starts_at: datetime, ends_at: datetime, reason: str
    ) -> None:
        """Managers and the head of unit; the window must run forwards."""
        self._check(caller)
        if not caller.user.has_any("manager", "head_of_unit"):
            raise UpstreamDenied("403")
        if ends_at <= starts_at:
            raise UpstreamRejected("Invalid override window; ends_at")
        self.duties = [OnDuty(team, starts_at, ends_at, "override"), *self.duties]
        self.done.append((caller.user.staff_id, team, "override", {"reason": reason}))

    async def read_access_log(
        self, caller: Caller, query: dict[str, str]
    ) -> tuple[list[AccessLogRow], str | None]:
        """The head of unit reads every row, a manager their team's referrals' rows; others 403."""
        self._check(caller)
        user = caller.user
        if not user.has_any("head_of_unit", "manager"):
            raise UpstreamDenied("403")
        team = None if user.has_any("head_of_unit") else self.teams.get(user.staff_id)
        rows = [
            self._log_row(staff, referral, ok)
            for staff, referral, ok in self.access_log
            if (team is None or (referral in self.queue and self.queue[referral].team == team))
            and query.get("staff") in (None, staff)
            and query.get("referral") in (None, referral)
        ]
        start = int(query.get("cursor", "0"))
        more = start + self.log_page < len(rows)
        return rows[start : start + self.log_page], str(start + self.log_page) if more else None

    async def access_reviews(self, caller: Caller, limit: int) -> list[SentReview]:
        """The head of unit's only, as intake answers; everyone else 403."""
        self._check(caller)
        if not caller.user.has_any("head_of_unit"):
            raise UpstreamDenied("403")
        return self.reviews[:limit]

    async def on_duty(self, caller: Caller, at: datetime) -> OnDuty:
        """The configured period that holds `at`."""
        self._check(caller)
        for period in self.duties:  # overrides are first in the list
            if period.period_start <= at < period.period_end:
                return period
        raise UpstreamRejected("Unprocessable Entity; at")

    async def arriving(self, caller: Caller, at: datetime) -> OnDuty:
        """The configured period that holds the assignment moment of `at`."""
        return await self.on_duty(caller, self.assignment_moment(at))

    def _log_row(self, staff: str, referral: str, outcome: str) -> AccessLogRow:
        action, result = ("read", "allowed") if outcome == "read" else ("denied", "denied")
        return AccessLogRow(self.log_at, staff, "caseworker", "assigned", referral, action, result, None)

    async def create_calendar_feed(self, caller: Caller) -> str:
        """A new link of the caller's, a year long; its URL (a made-up token)."""
        self._check(caller)
        now = self.now()
        feed_id = len(self.feeds) + 1
        self.feeds[feed_id] = (
            caller.user.staff_id,
            CalendarFeed(feed_id, now, now + timedelta(days=365), None, True),
        )
        return f"{self.feed_base}fake-token-{feed_id}.ics"

    async def calendar_feeds(self, caller: Caller) -> list[CalendarFeed]:
        """The caller's own links, oldest first."""
        self._check(caller)
        return [f for owner, f in self.feeds.values() if owner == caller.user.staff_id]

    async def revoke_calendar_feed(self, caller: Caller, feed_id: int) -> None:
        """Revoke: its owner, a manager, the head of unit; anyone else or an unknown id: denied."""
        self._check(caller)
        owner, feed = self.feeds.get(feed_id, ("", None))
        if feed is None or not (
            owner == caller.user.staff_id or caller.user.has_any("manager", "head_of_unit")
        ):
            raise UpstreamDenied("calendar feed")
        self.feeds[feed_id] = (owner, dataclasses.replace(feed, active=False))
        self.done.append((caller.user.staff_id, str(feed_id), "revoke-feed", {}))

    async def raise_overload_flag(self, caller: Caller, staff_id: str, note: str | None) -> RaisedFlag:
        """The person themself only; a note of at most 300 characters."""
        self._check(caller)
        row = next((w for w in self.workloads if w.staff_id == staff_id), None)
        if caller.user.staff_id != staff_id or row is None:
            raise UpstreamDenied("403")
        if note is not None and len(note) > NOTE_MAX:
            raise UpstreamRejected("Unprocessable Entity; body.note")
        if any(f.staff == staff_id and f.responded_at is None for f in self.flags.values()):
            raise UpstreamRejected("Conflict; an overload flag of this person is still open")
        now = self.now()
        flag = OverloadFlag(str(uuid.uuid4()), staff_id, row.team, note, now, now + self.escalate_after)
        self.flags[flag.flag_id] = flag
        self._set_overload(staff_id, Overload(flag.flag_id, "open"))
        self.done.append((staff_id, flag.flag_id, "overload-flag", {}))
        return RaisedFlag(flag.flag_id, flag.raised_at, flag.escalate_at)

    async def overload_flags(self, caller: Caller, query: dict[str, str]) -> list[OverloadFlag]:
        """Managers their team's, the head every flag, anyone their own (`staff=me`)."""
        self._check(caller)
        user = caller.user
        mine = query.get("staff") == "me"
        if not mine and not user.has_any("manager", "head_of_unit"):
            raise UpstreamDenied("403")
        flags = [f for f in self.flags.values() if self._may_see_flag(caller, f, mine)]
        if "team" in query:
            flags = [f for f in flags if f.team == query["team"]]
        if query.get("open") in ("true", "false"):
            flags = [f for f in flags if (f.responded_at is None) == (query["open"] == "true")]
        return sorted(flags, key=lambda f: f.raised_at, reverse=True)

    def _may_see_flag(self, caller: Caller, flag: OverloadFlag, mine: bool) -> bool:
        user = caller.user
        if mine:
            return flag.staff == user.staff_id
        return user.has_any("head_of_unit") or self.teams.get(user.staff_id) == flag.team

    async def respond_overload_flag(self, caller: Caller, flag_id: str, body: dict[str, Any]) -> OverloadFlag:
        """The flagged person's team manager or the head; a comment always; relieve needs a factor
        and an until in the future, reassign the person's own open referrals (moved to a
        teammate); a flag is answered once."""
        self._check(caller)
        flag = self.flags.get(flag_id)
        if flag is None or not self._may_respond(caller, flag):
            raise UpstreamDenied("403")
        if flag.responded_at is not None:
            raise UpstreamRejected("Conflict")
        action, comment = body.get("action"), str(body.get("comment") or "").strip()
        if action not in ("relieve", "reassign", "keep"):
            raise UpstreamRejected("Unprocessable Entity; body.action")
        if not comment:
            raise UpstreamRejected("Unprocessable Entity; body.comment")
        now = self.now()
        until = self._relief_until(body, now) if action == "relieve" else None
        ids = self._reassigned(flag, body) if action == "reassign" else []
        answered = dataclasses.replace(
            flag,
            action=action,
            responded_by=caller.user.staff_id,
            responded_at=now,
            response_seconds=(now - flag.raised_at).total_seconds(),
            comment=comment,
            capacity_factor=float(body["capacity_factor"]) if until else None,
            until=until,
            reassigned=len(ids) if action == "reassign" else None,
        )
        self.flags[flag_id] = answered
        self._set_overload(flag.staff, Overload(flag_id, "relieved", until) if until else None)
        self.done.append((caller.user.staff_id, flag_id, "overload-response", {"action": action, "ids": ids}))
        return answered

    def _may_respond(self, caller: Caller, flag: OverloadFlag) -> bool:
        user = caller.user
        if user.staff_id == flag.staff:
            return False
        return user.has_any("head_of_unit") or (
            user.has_any("manager") and self.teams.get(user.staff_id) == flag.team
        )

    @staticmethod
    def _relief_until(body: dict[str, Any], now: datetime) -> datetime:
        factor = body.get("capacity_factor")
        if factor is None or not 0 < float(factor) <= 1:
            raise UpstreamRejected("Unprocessable Entity; body.capacity_factor")
        until = datetime.fromisoformat(body["until"]) if body.get("until") else None
        if until is None or until <= now:
            raise UpstreamRejected("Unprocessable Entity; body.until")
        return until

    def _reassigned(self, flag: OverloadFlag, body: dict[str, Any]) -> list[str]:
        """The named referrals, checked to be the person's open ones and moved to a teammate."""
        ids = [str(r) for r in body.get("referral_ids") or []]
        own = {
            i.referral_id for i in self.queue.values() if i.caseworker == flag.staff and i.status != "closed"
        }
        if not ids or not set(ids) <= own:
            raise UpstreamRejected("Unprocessable Entity; body.referral_ids")
        mate = next(
            (w.staff_id for w in self.workloads if w.team == flag.team and w.staff_id != flag.staff), None
        )
        for referral_id in ids:
            self.queue[referral_id] = dataclasses.replace(
                self.queue[referral_id], caseworker=mate or flag.staff
            )
        return ids

    def _set_overload(self, staff_id: str, overload: Overload | None) -> None:
        self.workloads = [
            dataclasses.replace(w, overload=overload) if w.staff_id == staff_id else w for w in self.workloads
        ]

    async def meeting_slots(
        self, caller: Caller, team: str | None, start: date, end: date
    ) -> list[MeetingSlot]:
        """The slots of the window (and team); who booked what only for unit staff and the booker."""
        self._check(caller)
        lo = datetime.combine(start, datetime.min.time(), UTC)
        hi = datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC)
        shown = [
            s
            for s in self.slots
            if lo <= s.starts_at < hi and (team is None or not s.teams or team in s.teams)
        ]
        return [dataclasses.replace(s, bookings=self._bookings_for(caller, s)) for s in shown]

    def _bookings_for(self, caller: Caller, slot: MeetingSlot) -> tuple[Booking, ...]:
        staff = caller.user.has_any(*UNIT_ROLES)
        return tuple(
            b if staff or b.requester == caller.user.staff_id else Booking(b.starts_at, b.ends_at, b.booked)
            for b in slot.bookings
        )

    async def book_consultation(self, caller: Caller, topic: str, referral_id: str | None) -> Consultation:
        """The next free booking of the referral's team (the team on duty now for a new matter);
        409 when none is free."""
        self._check(caller)
        if not caller.user.has_any("partner", *UNIT_ROLES):
            raise UpstreamDenied("403")
        if not topic.strip() or len(topic) > NOTE_MAX:
            raise UpstreamRejected("Unprocessable Entity; body.topic")
        if referral_id is not None and referral_id not in self.queue:
            raise UpstreamRejected("Unprocessable Entity; body.referral_id")
        team = self.queue[referral_id].team if referral_id else (await self.on_duty(caller, self.now())).team
        for index, slot in enumerate(self.slots):
            if slot.kind != "consultation" or (slot.teams and team not in slot.teams):
                continue
            free = next((b for b in slot.bookings if not b.booked and b.starts_at > self.now()), None)
            if free is None:
                continue
            booking = Consultation(
                str(uuid.uuid4()),
                slot.slot,
                team,
                free.starts_at,
                free.ends_at,
                topic,
                referral_id,
                caller.user.staff_id,
            )
            taken = Booking(free.starts_at, free.ends_at, True, booking.consultation_id, caller.user.staff_id)
            self.slots[index] = dataclasses.replace(
                slot, bookings=tuple(taken if b is free else b for b in slot.bookings)
            )
            self.booked[booking.consultation_id] = booking
            self.done.append((caller.user.staff_id, booking.consultation_id, "consultation", {"team": team}))
            return booking
        raise UpstreamRejected("Conflict; no free consultation time")

    async def consultations(self, caller: Caller) -> list[Consultation]:
        """The caller's own bookings, soonest first."""
        self._check(caller)
        mine = [c for c in self.booked.values() if c.requester == caller.user.staff_id]
        return sorted(mine, key=lambda c: c.starts_at)

    async def cancel_consultation(self, caller: Caller, consultation_id: str) -> Consultation:
        """Who booked it, the manager of its team, the head; the time is free again; 409 when it is
        cancelled already."""
        self._check(caller)
        user, booking = caller.user, self.booked.get(consultation_id)
        if booking is None or not (
            booking.requester == user.staff_id
            or user.has_any("head_of_unit")
            or (user.has_any("manager") and self.teams.get(user.staff_id) == booking.team)
        ):
            raise UpstreamDenied("403")
        if booking.cancelled_at is not None:
            raise UpstreamRejected("Conflict; cancelled already")
        booking = dataclasses.replace(booking, cancelled_at=self.now())
        self.booked[consultation_id] = booking
        self.slots = [
            dataclasses.replace(
                s,
                bookings=tuple(
                    Booking(b.starts_at, b.ends_at, False) if b.consultation_id == consultation_id else b
                    for b in s.bookings
                ),
            )
            for s in self.slots
        ]
        self.done.append((caller.user.staff_id, consultation_id, "cancel-consultation", {}))
        return booking

    async def record_incident(
        self, caller: Caller, occurred_on: date, kind: str, channel: str, referral_id: str | None
    ) -> Incident:
        """Any member of the unit's staff; known type and channel, not in the future."""
        self._check(caller)
        if not caller.user.has_any(*UNIT_ROLES):
            raise UpstreamDenied("403")
        if kind not in INCIDENT_TYPES or channel not in INCIDENT_CHANNELS:
            raise UpstreamRejected("Unprocessable Entity; body.type")
        if occurred_on > self.now().date():
            raise UpstreamRejected("Unprocessable Entity; body.occurred_on")
        staff_id = caller.user.staff_id
        row = next((w for w in self.workloads if w.staff_id == staff_id), None)
        team = row.team if row else self.teams.get(staff_id)
        incident = Incident(
            str(uuid.uuid4()), occurred_on, kind, channel, team, staff_id, referral_id, self.now()
        )
        self.recorded_incidents.append(incident)
        self.done.append((staff_id, incident.incident_id, "incident", {"type": kind}))
        return incident

    async def incidents(self, caller: Caller, query: dict[str, str]) -> list[Incident]:
        """Managers their team's, the head every incident, anyone their own; another team: 403."""
        self._check(caller)
        user = caller.user
        managed = self.teams.get(user.staff_id) if user.has_any("manager") else None
        if "team" in query and not (user.has_any("head_of_unit") or query["team"] == managed):
            raise UpstreamDenied("403")
        return [
            i
            for i in self._incidents_seen_by(caller)
            if ("team" not in query or i.team == query["team"])
            and ("from" not in query or i.occurred_on >= date.fromisoformat(query["from"]))
            and ("to" not in query or i.occurred_on <= date.fromisoformat(query["to"]))
        ]

    def _incidents_seen_by(self, caller: Caller) -> list[Incident]:
        """The head every incident, a manager their team's, anyone those they recorded."""
        user = caller.user
        team = self.teams.get(user.staff_id) if user.has_any("manager") else None
        return [
            i
            for i in self.recorded_incidents
            if user.has_any("head_of_unit") or i.recorded_by == user.staff_id or (team and i.team == team)
        ]

    async def incident_summary(self, caller: Caller, quarter: str, team: str | None) -> IncidentSummary:
        """Counts of the quarter ("2026Q4") by type, team and channel."""
        self._check(caller)
        try:
            year, q = int(quarter[:4]), int(quarter[5:])
            start = date(year, 3 * q - 2, 1)
            if not QUARTER_YEARS[0] <= year <= QUARTER_YEARS[1]:
                raise ValueError(quarter)
        except ValueError:
            raise UpstreamRejected("Unprocessable Entity; query.quarter") from None
        end = (date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1)) - timedelta(days=1)
        user = caller.user
        managed = self.teams.get(user.staff_id) if user.has_any("manager") else None
        if not (user.has_any("head_of_unit") or (managed and team in (None, managed))):
            raise UpstreamDenied("403")
        rows = [
            i
            for i in self.recorded_incidents
            if start <= i.occurred_on <= end
            and (team is None or i.team == team)
            and (user.has_any("head_of_unit") or i.team == managed)
        ]
        teams = sorted({i.team or NO_TEAM for i in rows})
        return IncidentSummary(
            quarter=quarter,
            start=start,
            end=end,
            total=len(rows),
            by_type=tuple(sorted((t, sum(i.type == t for i in rows)) for t in INCIDENT_TYPES)),
            by_team=tuple(
                (t, tuple(sorted(Counter(i.type for i in rows if (i.team or NO_TEAM) == t).items())))
                for t in teams
            ),
            by_channel=tuple(sorted(Counter(i.channel for i in rows).items())),
        )

    async def set_safety_flag(self, caller: Caller, referral_id: str, flag: str | None) -> None:
        """The referral's caseworker, their manager, intake, the head of unit."""
        item = self._visible(caller, referral_id)
        if not caller.user.has_any("caseworker", "manager", "head_of_unit", "intake"):
            raise UpstreamDenied("403")
        if flag is not None and flag not in SAFETY_FLAGS:
            raise UpstreamRejected("Unprocessable Entity; body.flag")
        self.queue[referral_id] = dataclasses.replace(item, safety_flag=flag)
        self.done.append((caller.user.staff_id, referral_id, "safety-flag", {"flag": flag}))

    async def outcome_report(
        self, caller: Caller, start: date, end: date, change_date: date | None
    ) -> OutcomeReport:
        """The head of unit only; the report set on the fake, for the asked period."""
        self._check(caller)
        if not caller.user.has_any("head_of_unit"):
            raise UpstreamDenied("403")
        if end < start or (end - start).days > REPORT_MAX_DAYS:
            raise UpstreamRejected("Unprocessable Entity; query.to")
        if change_date is not None and not start <= change_date <= end:
            raise UpstreamRejected("Unprocessable Entity; query.change_date")
        measures = self.report.measures if self.report else ()
        return OutcomeReport(start, end, change_date, self.now(), measures)

    def _check(self, caller: Caller) -> None:
        if self.down:
            raise UpstreamUnavailable("fake is down")
        if self.valid_tokens is not None and caller.token not in self.valid_tokens:
            raise UpstreamUnauthorized("token refused")

    def _may_list(self, caller: Caller, item: QueueItem) -> bool:
        user = caller.user
        return (
            user.has_any("head_of_unit", "intake")
            or (user.has_any("manager") and self.teams.get(user.staff_id) == item.team)
            or item.caseworker == user.staff_id
        )

    def _visible(self, caller: Caller, referral_id: str) -> QueueItem:
        self._check(caller)
        item = self.queue.get(referral_id)
        if item is None or not self._may_list(caller, item):
            raise UpstreamDenied("403")
        return item


class MemorySessionStore:
    """Sessions in a dict: one process only (docs/WEB.md says what a second instance needs).

    Every browser without a cookie gets a session, so sessions unused for longer than `forget_after`
    are swept out now and then; nothing else would ever remove one that is never used again.
    """

    SWEEP_EVERY = 256

    def __init__(self, forget_after: timedelta = timedelta(hours=1)) -> None:
        self.sessions: dict[str, Session] = {}
        self._forget_after = forget_after
        self._puts = 0

    async def get(self, session_id: str) -> Session | None:
        """The session, or None."""
        return self.sessions.get(session_id)

    async def put(self, session: Session) -> None:
        """Store or replace; every SWEEP_EVERY puts, forget the sessions long unused."""
        self.sessions[session.session_id] = session
        self._puts += 1
        if self._puts % self.SWEEP_EVERY == 0:
            horizon = session.last_seen - self._forget_after
            for stale in [k for k, v in self.sessions.items() if v.last_seen < horizon]:
                del self.sessions[stale]

    async def delete(self, session_id: str) -> None:
        """Forget it."""
        self.sessions.pop(session_id, None)

    async def signed_in_since(self, since: datetime) -> int:
        """Sessions with a user, last seen at or after `since`."""
        return sum(1 for s in self.sessions.values() if s.user is not None and s.last_seen >= since)
