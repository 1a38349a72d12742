"""What the web app's use cases need from outside: the upstream staff APIs and a session store.

Every port has an in-memory fake (adapters/memory.py); the HTTP adapter and the fake pass the same
contract tests (tests/contract/test_web_staff_api_contract.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from services.web.domain.model import (
    AccessLogRow,
    CalendarFeed,
    Caller,
    Consultation,
    Incident,
    IncidentSummary,
    MeetingSlot,
    OnDuty,
    OutcomeReport,
    OverloadFlag,
    QueueItem,
    RaisedFlag,
    ReferralState,
    SentReview,
    User,
    WorkloadRow,
)


class UpstreamError(Exception):
    """A staff API call did not succeed."""


class UpstreamDenied(UpstreamError):
    """403 (or 404): the caller may not see or do this. Never says whether the referral exists."""


class UpstreamUnauthorized(UpstreamError):
    """401: the token is no longer accepted; the user must sign in again."""


class UpstreamRejected(UpstreamError):
    """409 or 422: the request was understood and refused; `reason` is safe to show staff."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UpstreamUnavailable(UpstreamError):
    """The service did not answer or answered 5xx."""


class StaffApi(Protocol):
    """Assignment's and intake's staff APIs (CONTRACTS.md §3, §2a), called as the signed-in user."""

    async def work_queue(self, caller: Caller, query: dict[str, str]) -> list[QueueItem]:
        """GET /v1/referrals with the filter `query`."""
        ...

    async def referral(self, caller: Caller, referral_id: str) -> ReferralState:
        """GET /v1/referrals/{id} (assignment state, no client details)."""
        ...

    async def dossier(self, caller: Caller, referral_id: str) -> dict[str, Any]:
        """GET /v1/referrals/{id}/dossier from intake (access-logged there)."""
        ...

    async def act(self, caller: Caller, referral_id: str, action: str, body: dict[str, Any]) -> None:
        """POST /v1/referrals/{id}/{action} on assignment (acknowledge, decision, …)."""
        ...

    async def register(self, caller: Caller, referral_id: str, case_number: str, at: datetime) -> None:
        """POST /v1/referrals/{id}/registration on intake."""
        ...

    async def workload(self, caller: Caller) -> list[WorkloadRow]:
        """GET /v1/workload."""
        ...

    async def own_workload(self, caller: Caller) -> WorkloadRow | None:
        """GET /v1/workload?staff=me: the caller's own row (None when they are no caseworker)."""
        ...

    async def feedback_sent(self, caller: Caller, referral_id: str, sent_at: datetime, channel: str) -> None:
        """POST /v1/referrals/{id}/feedback-sent on intake: the reporter was told (letter or email)."""
        ...

    async def add_absence(
        self, caller: Caller, staff_id: str, starts_on: date, ends_on: date, kind: str
    ) -> None:
        """POST /v1/staff/{id}/absences."""
        ...

    async def end_absence(self, caller: Caller, staff_id: str, back_on: date) -> None:
        """POST /v1/staff/{id}/absences/end: the running absence ends the day before `back_on`."""
        ...

    async def schedule(self, caller: Caller, start: date, end: date) -> list[OnDuty]:
        """GET /v1/rotation/schedule?from=&to=: the on-duty periods, overrides cut in."""
        ...

    async def add_override(
        self, caller: Caller, team: str, starts_at: datetime, ends_at: datetime, reason: str
    ) -> None:
        """POST /v1/rotation/overrides (managers, head of unit)."""
        ...

    async def read_access_log(
        self, caller: Caller, query: dict[str, str]
    ) -> tuple[list[AccessLogRow], str | None]:
        """GET /v1/access-log on intake: one page of rows and the cursor of the next, if any."""
        ...

    async def access_reviews(self, caller: Caller, limit: int) -> list[SentReview]:
        """GET /v1/access-reviews on intake (head of unit only): the latest `limit` monthly reviews."""
        ...

    async def on_duty(self, caller: Caller, at: datetime) -> OnDuty:
        """GET /v1/rotation/on-duty?at=."""
        ...

    async def create_calendar_feed(self, caller: Caller) -> str:
        """POST /v1/rotation/calendar-feeds: a new subscription link of the caller's; its URL,
        which assignment shows this once."""
        ...

    async def calendar_feeds(self, caller: Caller) -> list[CalendarFeed]:
        """GET /v1/rotation/calendar-feeds: the caller's own links, without their URLs."""
        ...

    async def revoke_calendar_feed(self, caller: Caller, feed_id: int) -> None:
        """DELETE /v1/rotation/calendar-feeds/{id} (its owner, managers, head of unit)."""
        ...

    async def arriving(self, caller: Caller, at: datetime) -> OnDuty:
        """GET /v1/rotation/arriving?at=: the period whose team takes a referral arriving at `at`
        (assignment's policy rule, not repeated here)."""
        ...

    # The working environment (issue 22, CONTRACTS.md §3a), all on assignment.

    async def raise_overload_flag(self, caller: Caller, staff_id: str, note: str | None) -> RaisedFlag:
        """POST /v1/staff/{id}/overload-flags: "I am at my limit" (the person themself)."""
        ...

    async def overload_flags(self, caller: Caller, query: dict[str, str]) -> list[OverloadFlag]:
        """GET /v1/overload-flags?team=&open=&staff=me."""
        ...

    async def respond_overload_flag(self, caller: Caller, flag_id: str, body: dict[str, Any]) -> OverloadFlag:
        """POST /v1/overload-flags/{id}/response: relieve, reassign or keep, with a comment."""
        ...

    async def meeting_slots(
        self, caller: Caller, team: str | None, start: date, end: date
    ) -> list[MeetingSlot]:
        """GET /v1/meeting-slots?team=&from=&to=: the fixed meeting times, with free/booked."""
        ...

    async def book_consultation(self, caller: Caller, topic: str, referral_id: str | None) -> Consultation:
        """POST /v1/consultations: the next free slot of the right team; assignment emails an
        invitation."""
        ...

    async def consultations(self, caller: Caller) -> list[Consultation]:
        """GET /v1/consultations?mine=true: the caller's own bookings, cancelled ones too."""
        ...

    async def cancel_consultation(self, caller: Caller, consultation_id: str) -> Consultation:
        """DELETE /v1/consultations/{id} (who booked it, a manager)."""
        ...

    async def record_incident(
        self, caller: Caller, occurred_on: date, kind: str, channel: str, referral_id: str | None
    ) -> Incident:
        """POST /v1/incidents: a threat, violence or harassment (any staff role; no free text)."""
        ...

    async def incidents(self, caller: Caller, query: dict[str, str]) -> list[Incident]:
        """GET /v1/incidents?from=&to=&team= (managers, head of unit)."""
        ...

    async def incident_summary(self, caller: Caller, quarter: str, team: str | None) -> IncidentSummary:
        """GET /v1/incidents/summary?quarter=&team=."""
        ...

    async def set_safety_flag(self, caller: Caller, referral_id: str, flag: str | None) -> None:
        """PUT (a flag) or DELETE (None) /v1/referrals/{id}/safety-flag."""
        ...

    async def outcome_report(
        self, caller: Caller, start: date, end: date, change_date: date | None
    ) -> OutcomeReport:
        """GET /v1/outcome-report?from=&to=&change_date= (head of unit only)."""
        ...


@dataclass
class PendingSignIn:
    """What the callback needs to finish an authorization-code-with-PKCE sign-in."""

    state: str
    nonce: str
    code_verifier: str
    return_to: str


@dataclass
class Session:
    """One browser's session, held server-side; the cookie carries only `session_id`."""

    session_id: str
    csrf_token: str
    last_seen: datetime
    language: str = "sv"
    user: User | None = None
    token: str | None = None
    pending: PendingSignIn | None = None
    flash: list[str] = field(default_factory=list)
    field_errors: dict[str, str] = field(default_factory=dict)
    new_feed_url: str | None = None  # a calendar link just created, until the page shows it once


class SessionStore(Protocol):
    """Sessions by id."""

    async def get(self, session_id: str) -> Session | None:
        """The session, or None when unknown."""
        ...

    async def put(self, session: Session) -> None:
        """Store or replace a session."""
        ...

    async def delete(self, session_id: str) -> None:
        """Forget a session (sign-out, rotation at sign-in, idle expiry)."""
        ...

    async def signed_in_since(self, since: datetime) -> int:
        """How many sessions with a user were last seen at or after `since` (the metrics' gauge)."""
        ...
