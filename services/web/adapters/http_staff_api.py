"""The staff APIs over HTTP: assignment (queues, actions, workload, rotation) and intake (dossier,
registration), each call with the signed-in user's bearer token."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import httpx

from services.web.domain.model import (
    Absence,
    AccessLogRow,
    Booking,
    CalendarFeed,
    Caller,
    Consultation,
    Deadline,
    DeadlineState,
    Incident,
    IncidentSummary,
    Measure,
    MeetingSlot,
    MonthValue,
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
from services.web.ports import UpstreamDenied, UpstreamRejected, UpstreamUnauthorized, UpstreamUnavailable


class HttpStaffApi:
    """StaffApi over two httpx clients (connection pools opened and closed by the app's lifespan)."""

    def __init__(self, assignment: httpx.AsyncClient, intake: httpx.AsyncClient) -> None:
        self._assignment = assignment
        self._intake = intake

    async def work_queue(self, caller: Caller, query: dict[str, str]) -> list[QueueItem]:
        """Every page of the queue (the API pages with a cursor)."""
        items: list[QueueItem] = []
        params = dict(query) | {"limit": "200"}
        while True:
            body = await self._get(self._assignment, "/v1/referrals", caller, params)
            items.extend(_queue_item(i) for i in body["items"])
            if not body.get("next_cursor"):
                return items
            params["cursor"] = body["next_cursor"]

    async def referral(self, caller: Caller, referral_id: str) -> ReferralState:
        """Assignment state of one referral."""
        return _referral_state(await self._get(self._assignment, f"/v1/referrals/{referral_id}", caller))

    async def dossier(self, caller: Caller, referral_id: str) -> dict[str, Any]:
        """The dossier as intake returns it."""
        body: dict[str, Any] = await self._get(self._intake, f"/v1/referrals/{referral_id}/dossier", caller)
        return body

    async def act(self, caller: Caller, referral_id: str, action: str, body: dict[str, Any]) -> None:
        """One action on a referral."""
        await self._post(self._assignment, f"/v1/referrals/{referral_id}/{action}", caller, body)

    async def register(self, caller: Caller, referral_id: str, case_number: str, at: datetime) -> None:
        """Record the system of record's case number."""
        body = {"system_case_number": case_number, "registered_at": at.isoformat()}
        await self._post(self._intake, f"/v1/referrals/{referral_id}/registration", caller, body)

    async def workload(self, caller: Caller) -> list[WorkloadRow]:
        """Per caseworker load, capacity and absences."""
        body = await self._get(self._assignment, "/v1/workload", caller)
        return [_workload_row(r) for r in body["caseworkers"]]

    async def own_workload(self, caller: Caller) -> WorkloadRow | None:
        """The caller's own row of the workload, if they are a caseworker."""
        body = await self._get(self._assignment, "/v1/workload", caller, {"staff": "me"})
        rows = [_workload_row(r) for r in body["caseworkers"]]
        return rows[0] if rows else None

    async def feedback_sent(self, caller: Caller, referral_id: str, sent_at: datetime, channel: str) -> None:
        """Record on intake that the reporter was told."""
        body = {"sent_at": sent_at.isoformat(), "channel": channel}
        await self._post(self._intake, f"/v1/referrals/{referral_id}/feedback-sent", caller, body)

    async def add_absence(
        self, caller: Caller, staff_id: str, starts_on: date, ends_on: date, kind: str
    ) -> None:
        """Register an absence."""
        body = {"starts_on": starts_on.isoformat(), "ends_on": ends_on.isoformat(), "kind": kind}
        await self._post(self._assignment, f"/v1/staff/{staff_id}/absences", caller, body)

    async def end_absence(self, caller: Caller, staff_id: str, back_on: date) -> None:
        """End a running absence early."""
        body = {"back_on": back_on.isoformat()}
        await self._post(self._assignment, f"/v1/staff/{staff_id}/absences/end", caller, body)

    async def schedule(self, caller: Caller, start: date, end: date) -> list[OnDuty]:
        """The on-duty periods from `start` to `end`."""
        window = {"from": start.isoformat(), "to": end.isoformat()}
        return [
            _period(p) for p in await self._get(self._assignment, "/v1/rotation/schedule", caller, window)
        ]

    async def add_override(
        self, caller: Caller, team: str, starts_at: datetime, ends_at: datetime, reason: str
    ) -> None:
        """Put `team` on duty from `starts_at` to `ends_at`."""
        body = {
            "team": team,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "reason": reason,
        }
        await self._post(self._assignment, "/v1/rotation/overrides", caller, body)

    async def read_access_log(
        self, caller: Caller, query: dict[str, str]
    ) -> tuple[list[AccessLogRow], str | None]:
        """One page of intake's access log."""
        body = await self._get(self._intake, "/v1/access-log", caller, query | {"limit": "50"})
        rows = [
            AccessLogRow(
                at=datetime.fromisoformat(r["at"]),
                staff=r["staff"],
                role=r["role"],
                relation=r["relation"],
                referral_id=r["referral_id"],
                action=r["action"],
                outcome=r["outcome"],
                reason=r.get("reason"),
            )
            for r in body["rows"]
        ]
        return rows, body.get("next_cursor")

    async def access_reviews(self, caller: Caller, limit: int) -> list[SentReview]:
        """The latest monthly reviews intake sent."""
        body = await self._get(self._intake, "/v1/access-reviews", caller, {"limit": str(limit)})
        return [
            SentReview(
                month=r["month"],
                sent_at=datetime.fromisoformat(r["sent_at"]),
                entries=r.get("entries"),
                findings=None if r.get("findings") is None else tuple(r["findings"].items()),
                chain_seq=r.get("chain_seq"),
                chain_hash=r.get("chain_hash"),
            )
            for r in body["reviews"]
        ]

    async def on_duty(self, caller: Caller, at: datetime) -> OnDuty:
        """The team on duty at `at`."""
        return _period(
            await self._get(self._assignment, "/v1/rotation/on-duty", caller, {"at": at.isoformat()})
        )

    async def arriving(self, caller: Caller, at: datetime) -> OnDuty:
        """The period whose team takes a referral arriving at `at`."""
        return _period(
            await self._get(self._assignment, "/v1/rotation/arriving", caller, {"at": at.isoformat()})
        )

    async def create_calendar_feed(self, caller: Caller) -> str:
        """A new subscription link; its URL (the one time assignment shows it)."""
        body = await self._send("POST", "/v1/rotation/calendar-feeds", caller)
        url: str = body["url"]
        return url

    async def calendar_feeds(self, caller: Caller) -> list[CalendarFeed]:
        """The caller's own subscription links."""
        return [_feed(f) for f in await self._get(self._assignment, "/v1/rotation/calendar-feeds", caller)]

    async def revoke_calendar_feed(self, caller: Caller, feed_id: int) -> None:
        """Revoke a subscription link."""
        await self._send("DELETE", f"/v1/rotation/calendar-feeds/{feed_id}", caller)

    async def raise_overload_flag(self, caller: Caller, staff_id: str, note: str | None) -> RaisedFlag:
        """Flag "I am at my limit"."""
        body = await self._send(
            "POST", f"/v1/staff/{staff_id}/overload-flags", caller, {} if note is None else {"note": note}
        )
        return RaisedFlag(
            str(body["flag_id"]), datetime.fromisoformat(body["raised_at"]), _instant(body.get("escalate_at"))
        )

    async def overload_flags(self, caller: Caller, query: dict[str, str]) -> list[OverloadFlag]:
        """Flags with their state and response times."""
        body = await self._get(self._assignment, "/v1/overload-flags", caller, query)
        return [_flag(f) for f in body["flags"]]

    async def respond_overload_flag(self, caller: Caller, flag_id: str, body: dict[str, Any]) -> OverloadFlag:
        """The manager's response."""
        return _flag(await self._send("POST", f"/v1/overload-flags/{flag_id}/response", caller, body))

    async def meeting_slots(
        self, caller: Caller, team: str | None, start: date, end: date
    ) -> list[MeetingSlot]:
        """The fixed meeting times, expanded."""
        params = {"from": start.isoformat(), "to": end.isoformat()} | ({"team": team} if team else {})
        body = await self._get(self._assignment, "/v1/meeting-slots", caller, params)
        return [_slot(s) for s in body["slots"]]

    async def book_consultation(self, caller: Caller, topic: str, referral_id: str | None) -> Consultation:
        """Book the next free slot of the right team."""
        sent = {"topic": topic} | ({"referral_id": referral_id} if referral_id else {})
        body = await self._send("POST", "/v1/consultations", caller, sent)
        return _consultation(body | {"topic": topic, "referral_id": referral_id} | _requester(body, caller))

    async def consultations(self, caller: Caller) -> list[Consultation]:
        """The caller's own bookings."""
        body = await self._get(self._assignment, "/v1/consultations", caller, {"mine": "true"})
        return [_consultation(c) for c in body["consultations"]]

    async def cancel_consultation(self, caller: Caller, consultation_id: str) -> Consultation:
        """Cancel a booking."""
        return _consultation(await self._send("DELETE", f"/v1/consultations/{consultation_id}", caller))

    async def record_incident(
        self, caller: Caller, occurred_on: date, kind: str, channel: str, referral_id: str | None
    ) -> Incident:
        """Record a threat, violence or harassment."""
        sent = {"occurred_on": occurred_on.isoformat(), "type": kind, "channel": channel}
        if referral_id:
            sent["referral_id"] = referral_id
        return _incident(await self._send("POST", "/v1/incidents", caller, sent))

    async def incidents(self, caller: Caller, query: dict[str, str]) -> list[Incident]:
        """Recorded incidents."""
        body = await self._get(self._assignment, "/v1/incidents", caller, query)
        return [_incident(i) for i in body["incidents"]]

    async def incident_summary(self, caller: Caller, quarter: str, team: str | None) -> IncidentSummary:
        """A quarter's counts."""
        params = {"quarter": quarter} | ({"team": team} if team else {})
        body = await self._get(self._assignment, "/v1/incidents/summary", caller, params)
        return IncidentSummary(
            quarter=body["quarter"],
            start=date.fromisoformat(body["from"]),
            end=date.fromisoformat(body["to"]),
            total=int(body["total"]),
            by_type=_counts(body["by_type"]),
            by_team=tuple(sorted((team, _counts(c)) for team, c in body["by_team"].items())),
            by_channel=_counts(body["by_channel"]),
        )

    async def set_safety_flag(self, caller: Caller, referral_id: str, flag: str | None) -> None:
        """Set or clear a referral's safety flag."""
        path = f"/v1/referrals/{referral_id}/safety-flag"
        if flag is None:
            await self._send("DELETE", path, caller)
        else:
            await self._send("PUT", path, caller, {"flag": flag})

    async def outcome_report(
        self, caller: Caller, start: date, end: date, change_date: date | None
    ) -> OutcomeReport:
        """The outcome report's measures."""
        params = {"from": start.isoformat(), "to": end.isoformat()}
        if change_date is not None:
            params["change_date"] = change_date.isoformat()
        body = await self._get(self._assignment, "/v1/outcome-report", caller, params)
        return OutcomeReport(
            start=date.fromisoformat(body["from"]),
            end=date.fromisoformat(body["to"]),
            change_date=date.fromisoformat(body["change_date"]) if body.get("change_date") else None,
            generated_at=datetime.fromisoformat(body["generated_at"]),
            measures=tuple(_measure(m) for m in body["measures"]),
        )

    async def _send(self, method: str, path: str, caller: Caller, body: dict[str, Any] | None = None) -> Any:
        try:
            response = await self._assignment.request(method, path, json=body, headers=_auth(caller))
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(type(exc).__name__) from None
        _raise_for(response)
        return response.json()

    async def _get(
        self, client: httpx.AsyncClient, path: str, caller: Caller, params: dict[str, str] | None = None
    ) -> Any:
        try:
            response = await client.get(path, params=params, headers=_auth(caller))
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(type(exc).__name__) from None
        _raise_for(response)
        return response.json()

    async def _post(self, client: httpx.AsyncClient, path: str, caller: Caller, body: dict[str, Any]) -> None:
        try:
            response = await client.post(path, json=body, headers=_auth(caller))
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(type(exc).__name__) from None
        _raise_for(response)


def _period(body: dict[str, Any]) -> OnDuty:
    return OnDuty(
        team=body["team"],
        period_start=datetime.fromisoformat(body["period_start"]),
        period_end=datetime.fromisoformat(body["period_end"]),
        source=body["source"],
    )


def _feed(body: dict[str, Any]) -> CalendarFeed:
    used = body.get("last_used_at")
    return CalendarFeed(
        id=int(body["id"]),
        created_at=datetime.fromisoformat(body["created_at"]),
        expires_at=datetime.fromisoformat(body["expires_at"]),
        last_used_at=datetime.fromisoformat(used) if used else None,
        active=bool(body["active"]),
    )


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _flag(raw: dict[str, Any]) -> OverloadFlag:
    factor = raw.get("capacity_factor")
    seconds = raw.get("response_seconds")
    return OverloadFlag(
        flag_id=str(raw["flag_id"]),
        staff=raw["staff"],
        team=raw["team"],
        note=raw.get("note"),
        raised_at=datetime.fromisoformat(raw["raised_at"]),
        escalate_at=datetime.fromisoformat(raw["escalate_at"]),
        escalated_at=_instant(raw.get("escalated_at")),
        action=raw.get("action"),
        responded_by=raw.get("responded_by"),
        responded_at=_instant(raw.get("responded_at")),
        response_seconds=None if seconds is None else float(seconds),
        comment=raw.get("comment"),
        capacity_factor=None if factor is None else float(factor),
        until=_instant(raw.get("until")),
        reassigned=raw.get("reassigned"),
    )


def _slot(raw: dict[str, Any]) -> MeetingSlot:
    return MeetingSlot(
        slot=raw["slot"],
        kind=raw["kind"],
        title=raw["title"],
        counterpart=raw.get("counterpart"),
        teams=tuple(raw.get("teams", [])),
        starts_at=datetime.fromisoformat(raw["starts_at"]),
        ends_at=datetime.fromisoformat(raw["ends_at"]),
        bookings=tuple(
            Booking(
                datetime.fromisoformat(b["starts_at"]),
                datetime.fromisoformat(b["ends_at"]),
                bool(b["booked"]),
                None if b.get("consultation_id") is None else str(b["consultation_id"]),
                b.get("requester"),
            )
            for b in raw.get("bookings", [])
        ),
    )


def _requester(body: dict[str, Any], caller: Caller) -> dict[str, Any]:
    return {} if body.get("requester") else {"requester": caller.user.staff_id}


def _consultation(raw: dict[str, Any]) -> Consultation:
    return Consultation(
        consultation_id=str(raw["consultation_id"]),
        slot=raw["slot"],
        team=raw["team"],
        starts_at=datetime.fromisoformat(raw["starts_at"]),
        ends_at=datetime.fromisoformat(raw["ends_at"]),
        topic=raw.get("topic") or "",
        referral_id=None if raw.get("referral_id") is None else str(raw["referral_id"]),
        requester=raw.get("requester") or "",
        cancelled_at=_instant(raw.get("cancelled_at")),
    )


def _incident(raw: dict[str, Any]) -> Incident:
    return Incident(
        incident_id=str(raw["incident_id"]),
        occurred_on=date.fromisoformat(raw["occurred_on"]),
        type=raw["type"],
        channel=raw["channel"],
        team=raw.get("team"),
        recorded_by=raw["recorded_by"],
        referral_id=None if raw.get("referral_id") is None else str(raw["referral_id"]),
        recorded_at=datetime.fromisoformat(raw["recorded_at"]),
    )


def _counts(raw: dict[str, Any]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((str(k), int(v)) for k, v in raw.items()))


def _measure(raw: dict[str, Any]) -> Measure:
    def number(value: Any) -> float | None:
        return None if value is None else float(value)

    return Measure(
        id=raw["id"],
        title_sv=raw["title_sv"],
        title_en=raw["title_en"],
        unit=raw["unit"],
        monthly=tuple(MonthValue(m["month"], m.get("team"), number(m.get("value"))) for m in raw["monthly"]),
        before=number(raw.get("before")),
        after=number(raw.get("after")),
        whole=number(raw.get("whole")),
    )


def _overload(raw: dict[str, Any] | None) -> Overload | None:
    if not raw:
        return None
    return Overload(str(raw["flag_id"]), raw["state"], _instant(raw.get("until")))


def _auth(caller: Caller) -> dict[str, str]:
    return {"Authorization": f"Bearer {caller.token}"}


def _raise_for(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    if status == 401:
        raise UpstreamUnauthorized("token refused")
    if status in (403, 404):
        raise UpstreamDenied(str(status))
    if status in (409, 422):
        raise UpstreamRejected(_problem_reason(response))
    raise UpstreamUnavailable(str(status))


def _problem_reason(response: httpx.Response) -> str:
    """The problem's title and field paths; never the submitted values."""
    try:
        problem = response.json()
    except ValueError:
        return str(response.status_code)
    paths = [
        ".".join(str(p) for p in e.get("loc", [])) for e in problem.get("errors", []) if isinstance(e, dict)
    ]
    detail = problem.get("detail") if response.status_code == 409 else None
    return "; ".join(str(x) for x in [problem.get("title", response.status_code), detail, *paths] if x)


def _deadlines(raw: dict[str, Any] | None) -> tuple[Deadline, ...]:
    out = []
    for name, d in (raw or {}).items():
        if d is None:
            continue
        met = datetime.fromisoformat(d["met_at"]) if d.get("met_at") else None
        state: DeadlineState = d.get("state") or ("met" if met else "ok")
        out.append(Deadline(name, datetime.fromisoformat(d["due_at"]), met, state))
    return tuple(out)


def _queue_item(raw: dict[str, Any]) -> QueueItem:
    return QueueItem(
        referral_id=raw["referral_id"],
        team=raw["team"],
        caseworker=raw["caseworker"],
        status=raw["status"],
        categories=tuple(raw["categories"]),
        acute=raw["acute"],
        received_at=datetime.fromisoformat(raw["received_at"]),
        deadlines=_deadlines(raw["deadlines"]),
        deadline_state=raw["deadline_state"],
        next_due_at=datetime.fromisoformat(raw["next_due_at"]) if raw.get("next_due_at") else None,
        registered=raw["registered"],
        safety_flag=raw.get("safety_flag"),
    )


def _referral_state(raw: dict[str, Any]) -> ReferralState:
    return ReferralState(
        referral_id=raw["referral_id"],
        team=raw["team"],
        caseworker=raw["caseworker"],
        mentor=raw.get("mentor"),
        reason=raw.get("reason", ""),
        explanation=raw.get("explanation", ""),
        status=raw["status"],
        deadlines=_deadlines(raw.get("deadlines")),
        registered=bool(raw.get("registered")),
        safety_flag=raw.get("safety_flag"),
    )


def _workload_row(raw: dict[str, Any]) -> WorkloadRow:
    return WorkloadRow(
        staff_id=raw["staff_id"],
        team=raw["team"],
        open_cases=raw["open_cases"],
        weighted_load=float(raw["weighted_load"]),
        capacity=float(raw["capacity"]),
        mentor=raw.get("mentor"),
        absences=tuple(
            Absence(date.fromisoformat(a["starts_on"]), date.fromisoformat(a["ends_on"]), a["kind"])
            for a in raw.get("absences", [])
        ),
        new_hire=bool(raw.get("new_hire", False)),
        mentees=tuple(raw.get("mentees", [])),
        overload=_overload(raw.get("overload")),
    )
