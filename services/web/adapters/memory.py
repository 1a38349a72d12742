"""In-memory fakes of the web app's ports: a staff API that applies the same who-may rules as
the real services (in a simplified form) and records what was done, and a session store."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.web.domain.model import (
    Absence,
    AccessLogRow,
    CalendarFeed,
    Caller,
    OnDuty,
    QueueItem,
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
