"""Consultations on the fakes, through the staff API (issue 22): the right team and its next
free time, partners kept to these endpoints, who sees requesters and topics, cancelling by
relation, events without the topic, the reminder once, and the meetings in the iCalendar feeds."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from icalendar import Calendar

from services.assignment import api
from services.assignment.adapters.memory import InMemoryAssignmentUnitOfWork
from services.assignment.domain.unit import Unit
from services.assignment.handlers.consultations import book as book_consultation
from services.assignment.handlers.consultations import emit_consultation_reminders
from services.assignment.handlers.scheduled import emit_scheduled_events
from shared.http import add_problem_handlers
from tests.assignment_support import UNIT, Fakes, local, received
from tests.unit.test_assignment_api import authenticate

TZ = ZoneInfo("Europe/Stockholm")
NOW = local(2026, 10, 5, 10, 0)  # a Monday; team-b is on duty until 12 October 08:00
TOPIC = "Oro kring familjen på Storgatan 5"  # free text: must never leave the API


def as_(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


PARTNER, PARTNER_2 = as_("partner-1:partner"), as_("partner-2:partner")
CW_B, CW_A = as_("cw-b1:caseworker"), as_("cw-a1:caseworker")
MGR_A, MGR_B, HEAD = as_("mgr-a:manager"), as_("mgr-b:manager"), as_("head:head_of_unit")


def make_client(fakes: Fakes) -> httpx.AsyncClient:
    app = FastAPI()
    add_problem_handlers(app)
    for router in api.ROUTERS:
        app.include_router(router)
    app.state.assignment = api.AssignmentApi(fakes.unit, fakes.uow, fakes.clock, authenticate)
    api.add_domain_problem_handlers(app)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a")
    client.fakes = fakes  # type: ignore[attr-defined]
    return client


@pytest.fixture
async def client() -> Any:
    async with make_client(Fakes(NOW)) as c:
        yield c


async def book(client: httpx.AsyncClient, headers: dict[str, str] = PARTNER, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/consultations", json={"topic": TOPIC, **body}, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def workplace_events(fakes: Fakes) -> list[dict[str, Any]]:
    return [json.loads(payload) for _, topic, _, payload in fakes.tables.outbox if topic == "workplace.v1"]


async def test_a_new_matter_goes_to_the_team_on_duty_at_its_next_free_time(client: Any) -> None:
    first = await book(client)
    second = await book(client, PARTNER_2)
    assert (first["team"], first["slot"]) == ("team-b", "open-care")
    assert datetime.fromisoformat(first["starts_at"]) == local(2026, 10, 6, 13)
    assert datetime.fromisoformat(first["ends_at"]) == local(2026, 10, 6, 13, 30)
    assert datetime.fromisoformat(second["starts_at"]) == local(2026, 10, 6, 13, 30)
    (event, _) = workplace_events(client.fakes)
    assert event["event_type"] == "consultation.booked"
    assert event["data"]["sequence"] == 0 and event["data"]["team"] == "team-b"
    assert (
        event["data"]["requester"] == "partner-1"
        and event["data"]["consultation_id"] == first["consultation_id"]
    )


async def test_an_existing_referral_goes_to_its_own_team(client: Any) -> None:
    referral = str(uuid.uuid4())
    await client.fakes.assign(received(referral, at=local(2026, 9, 21, 10)))  # team-a was on duty
    assert client.fakes.case(referral).team == "team-a"
    booked = await book(client, referral_id=referral)
    assert booked["team"] == "team-a"
    unknown = await client.post(
        "/v1/consultations", json={"topic": "x", "referral_id": str(uuid.uuid4())}, headers=PARTNER
    )
    assert unknown.status_code == 404
    assert client.fakes.tables.consultations.keys() == {booked["consultation_id"]}


class StaleReads(InMemoryAssignmentUnitOfWork):
    """A unit of work that read the team's bookings before another request committed its own."""

    @property
    def consultations(self) -> Any:
        store = super().consultations

        async def nothing_booked(*_: Any) -> set[datetime]:
            return set()

        store.live_starts = nothing_booked  # type: ignore[method-assign]
        return store


async def test_a_time_taken_meanwhile_is_skipped_for_the_next_free_one(client: Any) -> None:
    first = await book(client)
    fakes = client.fakes
    late = await book_consultation(
        lambda: StaleReads(fakes.tables, fakes.clock), fakes.unit, "partner-2", "Fråga", None, NOW
    )
    assert datetime.fromisoformat(first["starts_at"]) == local(2026, 10, 6, 13)
    assert late.starts_at == local(2026, 10, 6, 13, 30) and len(fakes.tables.consultations) == 2


async def test_a_topic_must_be_short_plain_text(client: Any) -> None:
    for bad, where in (("", "topic"), ("x" * 201, "topic"), ("rad ett\nrad två", None)):
        response = await client.post("/v1/consultations", json={"topic": bad}, headers=PARTNER)
        assert response.status_code == 422, bad
        if where:
            assert where in response.text
    missing = await client.post("/v1/consultations", json={}, headers=PARTNER)
    assert missing.status_code == 422 and "topic" in missing.text
    assert client.fakes.tables.consultations == {} and client.fakes.tables.outbox == []


async def test_a_partner_may_use_the_consultation_endpoints_and_nothing_else(client: Any) -> None:
    referral = str(uuid.uuid4())
    await client.fakes.assign(received(referral, at=NOW))
    for path in ("/v1/referrals", f"/v1/referrals/{referral}", "/v1/rotation/on-duty", "/v1/workload"):
        assert (await client.get(path, headers=PARTNER)).status_code == 403, path
    assert (await client.post("/v1/rotation/calendar-feeds", headers=PARTNER)).status_code == 403
    # A partner is in the unit file, but their own absences are no business of the unit's.
    absence = {"starts_on": "2026-10-06", "ends_on": "2026-10-07", "kind": "sick"}
    own = "/v1/staff/partner-1/absences"
    assert (await client.post(own, json=absence, headers=PARTNER)).status_code == 403
    assert (
        await client.post(own + "/end", json={"back_on": "2026-10-07"}, headers=PARTNER)
    ).status_code == 403
    assert (await client.get("/v1/consultations", headers=PARTNER)).status_code == 403  # the unit's list
    assert (await client.get("/v1/meeting-slots", headers=PARTNER)).status_code == 200
    assert (await client.get("/v1/consultations?mine=true", headers=PARTNER)).status_code == 200
    assert (await client.get("/v1/meeting-slots")).status_code == 401


def open_care(body: dict[str, Any], day: str) -> dict[str, Any]:
    (row,) = [s for s in body["slots"] if s["slot"] == "open-care" and s["starts_at"].startswith(day)]
    return row


async def test_a_partner_sees_free_and_booked_but_not_who_booked_the_others(client: Any) -> None:
    mine = await book(client)
    theirs = await book(client, PARTNER_2)
    query = "/v1/meeting-slots?team=team-b&from=2026-10-05&to=2026-10-11"
    seen = (await client.get(query, headers=PARTNER)).json()
    row = open_care(seen, "2026-10-06")
    assert (
        row["teams"] == ["team-b"] and row["counterpart"] == "Öppenvården" and row["kind"] == "consultation"
    )
    assert [b["booked"] for b in row["bookings"]] == [True, True, False, False]
    assert row["bookings"][0]["consultation_id"] == mine["consultation_id"]
    assert "requester" not in row["bookings"][1] and "consultation_id" not in row["bookings"][1]
    staff = open_care((await client.get(query, headers=CW_A)).json(), "2026-10-06")
    assert [b.get("requester") for b in staff["bookings"]] == ["partner-1", "partner-2", None, None]
    assert staff["bookings"][1]["consultation_id"] == theirs["consultation_id"]
    assert TOPIC not in json.dumps(seen) and TOPIC not in json.dumps(staff)
    kinds = {s["slot"]: s["kind"] for s in seen["slots"]}
    assert kinds == {"open-care": "consultation", "school": "consultation"}  # no change of team that week
    every = (await client.get("/v1/meeting-slots?from=2026-10-12&to=2026-10-12", headers=CW_A)).json()
    (handover,) = every["slots"]
    assert (handover["kind"], handover["teams"], handover["bookings"]) == (
        "handover",
        ["team-b", "team-c"],
        [],
    )
    bad = await client.get("/v1/meeting-slots?team=team-x", headers=CW_A)
    assert bad.status_code == 422


async def test_the_topic_is_for_the_booker_the_team_and_its_manager(client: Any) -> None:
    await book(client)
    (own,) = (await client.get("/v1/consultations?mine=true", headers=PARTNER)).json()["consultations"]
    assert own["topic"] == TOPIC and own["requester"] == "partner-1" and own["cancelled_at"] is None
    assert (await client.get("/v1/consultations?mine=true", headers=PARTNER_2)).json() == {
        "consultations": []
    }
    query = "/v1/consultations?from=2026-10-05&to=2026-10-11"
    topics = {}
    for who, headers in (
        ("cw-b1", CW_B),
        ("mgr-b", MGR_B),
        ("cw-a1", CW_A),
        ("mgr-a", MGR_A),
        ("head", HEAD),
    ):
        (row,) = (await client.get(query, headers=headers)).json()["consultations"]
        topics[who] = row["topic"]
    assert topics == {"cw-b1": TOPIC, "mgr-b": TOPIC, "cw-a1": None, "mgr-a": None, "head": None}


async def test_the_booker_the_teams_manager_and_the_head_may_cancel_once(client: Any) -> None:
    ids = [(await book(client))["consultation_id"] for _ in range(3)]
    path = "/v1/consultations/{}".format
    for headers in (PARTNER_2, MGR_A, CW_B):
        assert (await client.delete(path(ids[0]), headers=headers)).status_code == 403
    cancelled = await client.delete(path(ids[0]), headers=MGR_B)
    assert cancelled.status_code == 200 and cancelled.json()["cancelled_at"] is not None
    assert (await client.delete(path(ids[0]), headers=PARTNER)).status_code == 409
    assert (await client.delete(path(ids[1]), headers=PARTNER)).status_code == 200
    assert (await client.delete(path(ids[2]), headers=HEAD)).status_code == 200
    assert (await client.delete(path(uuid.uuid4()), headers=HEAD)).status_code == 404
    assert (await client.delete("/v1/consultations/not-a-uuid", headers=HEAD)).status_code == 422
    events = [e for e in workplace_events(client.fakes) if e["event_type"] == "consultation.cancelled"]
    assert [(e["data"]["sequence"], e["data"]["cancelled_by"]) for e in events] == [
        (1, "mgr-b"), (1, "partner-1"), (1, "head")
    ]  # fmt: skip
    # A cancelled time is free again: the next booking takes the first one back.
    again = await book(client)
    assert datetime.fromisoformat(again["starts_at"]) == local(2026, 10, 6, 13)


async def test_no_event_and_no_log_line_holds_the_topic(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    booked = await book(client)
    await client.delete(f"/v1/consultations/{booked['consultation_id']}", headers=PARTNER)
    await book(client)
    client.fakes.clock.set(local(2026, 10, 5, 14))
    await emit_consultation_reminders(client.fakes.uow(), client.fakes.unit, client.fakes.clock.now())
    payloads = [p for _, _, _, p in client.fakes.tables.outbox]
    assert len(payloads) == 4 and all(TOPIC.encode() not in p for p in payloads)
    assert "Storgatan" not in caplog.text


async def test_a_reminder_goes_once_within_the_lead_however_many_scans() -> None:
    fakes = Fakes(NOW)
    async with make_client(fakes) as client:
        booked = await book(client)
    starts = datetime.fromisoformat(booked["starts_at"])
    assert (
        await emit_consultation_reminders(fakes.uow(), fakes.unit, starts - timedelta(days=1, minutes=1)) == 0
    )
    assert await emit_scheduled_events(fakes.uow, fakes.unit, starts - timedelta(days=1)) >= 1
    assert await emit_consultation_reminders(fakes.uow(), fakes.unit, starts - timedelta(hours=2)) == 0
    reminders = [e for e in workplace_events(fakes) if e["event_type"] == "consultation.reminder"]
    assert len(reminders) == 1 and reminders[0]["data"]["consultation_id"] == booked["consultation_id"]
    assert reminders[0]["data"]["sequence"] == 0


async def test_no_free_time_within_the_horizon_is_a_conflict() -> None:
    short: Unit = dataclasses.replace(UNIT, meetings=dataclasses.replace(UNIT.meetings, horizon_days=1))
    fakes = Fakes(local(2026, 10, 8, 10, 30), short)  # Thursday after the slot: next is Tuesday
    async with make_client(fakes) as client:
        response = await client.post("/v1/consultations", json={"topic": "x"}, headers=PARTNER)
    assert response.status_code == 409 and "1 days" in response.json()["detail"]
    assert fakes.tables.consultations == {} and fakes.tables.outbox == []


def meetings_of(ics: bytes) -> dict[str, Any]:
    calendar = Calendar.from_ical(ics)
    return {str(e["UID"]): e for e in calendar.walk("VEVENT") if str(e["UID"]).startswith("meeting-")}


async def test_the_calendar_lists_the_fixed_meetings_in_stockholm_time_with_stable_uids(client: Any) -> None:
    await book(client)
    first = (await client.get("/v1/rotation/calendar.ics", headers=CW_A)).content
    client.fakes.clock.set(NOW + timedelta(hours=5))
    second = (await client.get("/v1/rotation/calendar.ics", headers=CW_A)).content
    meetings, later = meetings_of(first), meetings_of(second)
    assert meetings.keys() == later.keys()
    winter = meetings["meeting-open-care-20261103@referral-router"]
    summer = meetings["meeting-open-care-20261006@referral-router"]
    for event in (winter, summer):
        start = event.decoded("DTSTART")
        assert str(start.tzinfo) == "Europe/Stockholm" and start.hour == 13
        assert event["DTSTART"].params["TZID"] == "Europe/Stockholm"
    assert (
        summer.decoded("DTSTART").astimezone(UTC).hour == 11
        and winter.decoded("DTSTART").astimezone(UTC).hour == 12
    )
    assert b"BEGIN:VTIMEZONE" in first and b"TZID:Europe/Stockholm" in first
    assert "meeting-handover-20261012@referral-router" in meetings
    assert (
        sum(1 for uid in meetings if uid.startswith("meeting-open-care-2026100")) == 1
    )  # per occurrence, not booking
    assert TOPIC.encode() not in first and b"partner-1" not in first


async def test_a_personal_feed_lists_the_meetings_of_its_owners_team() -> None:
    fakes = Fakes(NOW)
    async with make_client(fakes) as client:
        created = (await client.post("/v1/rotation/calendar-feeds", headers=CW_A)).json()
        path = "/v1/rotation/calendar/" + created["url"].rsplit("/", 1)[1]
        own = meetings_of((await client.get(path)).content)
        every = meetings_of((await client.get("/v1/rotation/calendar.ics", headers=CW_A)).content)
    handovers = {uid for uid in every if uid.startswith("meeting-handover-")}
    # Only the changes team-a hands over or takes over at, not the one between team-b and team-c.
    own_handovers = {uid for uid in own if uid.startswith("meeting-handover-")}
    assert own_handovers and own_handovers < handovers
    assert {uid for uid in own if not uid.startswith("meeting-handover-")} == {
        uid for uid in every if not uid.startswith("meeting-handover-")
    }  # the consultation slots are every team's
