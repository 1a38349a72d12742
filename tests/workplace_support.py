"""Issue 22's workplace.v1 events as assignment publishes them, for notifications and metrics
tests (no tests here). Synthetic ids only."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.events import ConsultationEvent, Envelope, IncidentRecorded, OverloadFlag, new_envelope

TZ = ZoneInfo("Europe/Stockholm")
# A free text someone at their limit might type (it stays in assignment: never in an event).
NOTE = "Orkar inte mer efter hembesöket hos Zandra Hemligsdotter, 070-123 45 67"
TOPIC = "Familjen Hemligsdotter på Storgatan 5, pappan hotar"


def _wrap(kind: str, data: Any, at: datetime) -> Envelope[Any]:
    return new_envelope(kind, data, producer="assignment", correlation_id=str(uuid.uuid4()), occurred_at=at)


def overload(
    kind: str = "overload.flagged", *, staff: str = "cw-a1", team: str = "team-a", raised_at: datetime,
    flag_id: uuid.UUID | None = None, **response: Any,
) -> Envelope[OverloadFlag]:  # fmt: skip
    """An overload flag event; `response` holds action, capacity_factor, until, … for the answer."""
    escalate_at = response.pop("escalate_at", raised_at + timedelta(hours=4))
    data = OverloadFlag(
        family_key=staff, flag_id=flag_id or uuid.uuid4(), staff=staff, team=team, raised_at=raised_at,
        escalate_at=escalate_at, **response,
    )  # fmt: skip
    at = response.get("responded_at") or (escalate_at if kind == "overload.escalated" else raised_at)
    return _wrap(kind, data, at)


def consultation(
    kind: str = "consultation.booked", *, starts_at: datetime, minutes: int = 30, slot: str = "open-care",
    team: str = "team-b", requester: str = "partner-1", sequence: int = 0,
    consultation_id: uuid.UUID | None = None, referral_id: str | None = None,
    at: datetime | None = None,
) -> Envelope[ConsultationEvent]:  # fmt: skip
    """A consultation event for one booking (the same `consultation_id` for its later versions)."""
    cid = consultation_id or uuid.uuid4()
    data = ConsultationEvent(
        family_key=str(cid), consultation_id=cid, slot=slot, team=team, requester=requester,
        starts_at=starts_at, ends_at=starts_at + timedelta(minutes=minutes), referral_id=referral_id,
        sequence=sequence, cancelled_by=requester if kind == "consultation.cancelled" else None,
    )  # fmt: skip
    return _wrap(kind, data, at or starts_at - timedelta(days=3))


def incident(
    *, team: str | None = "team-a", requester: str = "cw-a2", type: str = "threat", channel: str = "phone",
    occurred_on: date = date(2026, 11, 20), referral_id: str | None = None, at: datetime,
) -> Envelope[IncidentRecorded]:  # fmt: skip
    """An incident.recorded event."""
    iid = uuid.uuid4()
    data = IncidentRecorded(
        family_key=str(iid), incident_id=iid, occurred_on=occurred_on, type=type,  # type: ignore[arg-type]
        channel=channel, team=team, requester=requester, referral_id=referral_id,  # type: ignore[arg-type]
    )  # fmt: skip
    return _wrap("incident.recorded", data, at)
