"""Issue 22's web view models (pure), the pages' edges over the fake staff API, and the HTTP
adapter against an assignment stand-in that answers with the agreed JSON shapes."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from services.web.adapters.http_staff_api import HttpStaffApi
from services.web.domain import workenv
from services.web.domain.model import (
    Booking,
    Caller,
    IncidentSummary,
    Measure,
    MeetingSlot,
    MonthValue,
    OverloadFlag,
    User,
    user_from_claims,
)
from services.web.domain.views import STOCKHOLM
from tests.web_support import NOW, WebApp, seed_workenv, seeded_api

RAISED = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)  # a Friday afternoon


def _flag(**kw: Any) -> OverloadFlag:
    values: dict[str, Any] = {
        "flag_id": "f-1",
        "staff": "cw-a1",
        "team": "team-a",
        "note": None,
        "raised_at": RAISED,
        "escalate_at": RAISED + timedelta(days=3),
    }
    return OverloadFlag(**(values | kw))


@pytest.mark.parametrize(
    ("seconds", "sv", "en"),
    [
        (None, "–", "–"),
        (20, "0 min", "0 min"),
        (3900, "1 tim 5 min", "1 h 5 min"),
        (2 * 86400 + 7200, "2 d 2 tim", "2 d 2 h"),
    ],
)
def test_a_response_time_reads_in_plain_words(seconds: float | None, sv: str, en: str) -> None:
    assert workenv.duration_words(seconds, "sv") == sv
    assert workenv.duration_words(seconds, "en") == en


def test_open_flags_come_first_oldest_first_and_answers_read_in_words() -> None:
    until = datetime(2026, 12, 19, 0, 0, tzinfo=STOCKHOLM)  # the midnight after the 18th
    flags = [
        _flag(
            flag_id="answered",
            action="relieve",
            capacity_factor=0.5,
            until=until,
            responded_at=NOW,
            response_seconds=3600.0,
        ),
        _flag(flag_id="new", raised_at=NOW),
        _flag(flag_id="old", raised_at=RAISED),
        _flag(flag_id="moved", action="reassign", reassigned=3, responded_at=NOW),
    ]
    rows = workenv.flag_rows(flags, "sv")
    assert [r.flag_id for r in rows] == ["old", "new", "answered", "moved"]
    assert rows[2].answer == "Avlastad: 50 % av kapaciteten till 2026-12-18"
    assert rows[2].response_time == "1 tim"
    assert rows[3].answer == "3 ärenden flyttade"
    assert rows[0].open and not rows[2].open


def test_a_relief_is_sent_as_a_factor_until_the_midnight_after_the_last_day() -> None:
    body = workenv.response_body(
        {
            "action": "relieve",
            "capacity_percent": "25",
            "until": "2026-12-18",
            "comment": " Vila ",
            "referral_ids": "",
        }
    )
    assert body == {
        "action": "relieve",
        "comment": "Vila",
        "capacity_factor": 0.25,
        "until": "2026-12-19T00:00:00+01:00",
    }
    moved = workenv.response_body({"action": "reassign", "comment": "ok", "referral_ids": "R-1,R-2"})
    assert moved == {"action": "reassign", "comment": "ok", "referral_ids": ["R-1", "R-2"]}
    assert workenv.response_body({"action": "keep", "comment": "Vi pratar"}) == {
        "action": "keep",
        "comment": "Vi pratar",
    }


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"action": "relieve", "comment": ""}, "comment"),
        ({"action": "ignore", "comment": "x"}, "action"),
        (
            {"action": "relieve", "comment": "x", "capacity_percent": "60", "until": "2026-12-18"},
            "capacity_percent",
        ),
        ({"action": "relieve", "comment": "x", "capacity_percent": "50", "until": "soon"}, "until"),
        ({"action": "reassign", "comment": "x", "referral_ids": ""}, "referral_ids"),
        ({"action": "relieve", "comment": "x", "capacity_percent": "50", "until": "2026-12-05"}, "until"),
    ],
)
def test_a_response_form_that_cannot_be_sent_names_its_field(form: dict[str, str], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        workenv.response_body(form, date(2026, 12, 6))  # a last day in the past: assignment refuses it


def test_a_relief_whose_last_day_is_today_runs_to_midnight_tonight() -> None:
    form = {"action": "relieve", "comment": "x", "capacity_percent": "50", "until": "2026-12-06"}
    assert workenv.response_body(form, date(2026, 12, 6))["until"] == "2026-12-07T00:00:00+01:00"


def test_slots_read_as_local_days_and_times_with_who_booked_only_where_the_api_said() -> None:
    start = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
    half = timedelta(minutes=30)
    slot = MeetingSlot(
        "open-care",
        "consultation",
        "Öppenvården",
        "Öppenvården",
        (),
        start,
        start + 4 * half,
        (
            Booking(start, start + half, True, "c-1", "cw-a1"),
            Booking(start + half, start + 2 * half, True),
            Booking(start + 2 * half, start + 3 * half, False),
        ),
    )
    [view] = workenv.slot_views([slot], User("cw-a1", frozenset({"caseworker"})), "sv")
    assert (view.day, view.time, view.teams, view.free) == ("tis 2026-12-08", "13:00–15:00", "alla team", 1)
    assert [(b.time, b.booked, b.mine, b.requester) for b in view.bookings] == [
        ("13:00–13:30", True, True, "cw-a1"),
        ("13:30–14:00", True, False, None),
        ("14:00–14:30", False, False, None),
    ]


def test_the_quarterly_summary_has_a_column_for_every_type_and_totals() -> None:
    summary = IncidentSummary(
        "2026Q4",
        date(2026, 10, 1),
        date(2026, 12, 31),
        3,
        (("threat", 2), ("violence", 1)),
        (("team-a", (("threat", 2),)), ("team-b", (("violence", 1),))),
        (("phone", 2), ("home_visit", 1)),
    )
    table = workenv.summary_table(summary)
    assert table.rows == (("team-a", (2, 0, 0), 2), ("team-b", (0, 1, 0), 1))
    assert (table.totals, table.total) == ((2, 1, 0), 3)


@pytest.mark.parametrize(
    ("day", "quarter"),
    [(date(2026, 1, 1), "2026Q1"), (date(2026, 9, 30), "2026Q3"), (date(2026, 12, 6), "2026Q4")],
)
def test_a_day_falls_in_its_quarter(day: date, quarter: str) -> None:
    assert workenv.quarter_of(day) == quarter
    assert workenv.well_formed_quarter(quarter)


def test_a_malformed_quarter_is_refused() -> None:
    assert not any(workenv.well_formed_quarter(q) for q in ("2026Q5", "26Q1", "2026-Q1", ""))


def test_the_chart_scales_bars_from_zero_marks_the_change_and_leaves_a_gap_for_a_missing_month() -> None:
    measure = Measure(
        "lead",
        "Ledtid",
        "Lead time",
        "days",
        (
            MonthValue("2026-01", None, 50.0),
            MonthValue("2026-02", None, None),
            MonthValue("2026-03", None, 100.0),
            MonthValue("2026-03", "team-a", 80.0),
        ),
        50.0,
        100.0,
        75.0,
    )
    view = workenv.measure_view(measure, date(2026, 3, 1), "sv")
    bars = view.chart.bars
    assert [b.label for b in bars] == ["2026-01", "2026-02", "2026-03"]
    assert bars[2].height == pytest.approx(2 * bars[0].height)
    assert bars[1].height == 0 and bars[1].value == "–"
    assert [b.after_change for b in bars] == [False, False, True]
    assert view.chart.change_x is not None and bars[1].x < view.chart.change_x < bars[2].x
    assert view.team_months == (("2026-03", "team-a", "80"),)
    assert (view.before, view.after, view.whole) == ("50", "100", "75")


def test_shares_show_as_per_cent_and_decimals_with_a_comma_in_swedish() -> None:
    assert workenv.number_words(0.856, "share", "sv") == "86 %"
    assert workenv.number_words(1.25, "per_fte", "sv") == "1,25"
    assert workenv.number_words(1.25, "per_fte", "en") == "1.25"


def test_the_report_window_defaults_to_the_last_twelve_whole_months_and_must_run_forwards() -> None:
    assert workenv.report_window({}, date(2026, 12, 6)) == (date(2025, 12, 1), date(2026, 11, 30), None)
    with pytest.raises(ValueError, match="to"):
        workenv.report_window({"from": "2026-06-01", "to": "2026-01-01"}, date(2026, 12, 6))


def test_a_partner_is_a_role_of_its_own_that_opens_the_consultations_page_only() -> None:
    partner = user_from_claims({"sub": "partner-1", "roles": ["partner"]}, "sub", "roles")
    assert partner.partner_only
    assert workenv.may_open(partner, "/consultations") and workenv.may_open(
        partner, "/consultations/x/cancel"
    )
    assert not workenv.may_open(partner, "/consultationsx") and not workenv.may_open(partner, "/team")
    assert not User("cw", frozenset({"partner", "caseworker"})).partner_only


# The edge over the fake


def _app(staff_id: str, *roles: str) -> tuple[WebApp, str]:
    web = WebApp(seed_workenv(seeded_api()))
    web.api.now = web.clock.now
    return web, web.sign_in(staff_id, *roles).csrf_token


def test_a_flag_without_the_csrf_token_or_with_a_long_note_stores_nothing() -> None:
    web, csrf = _app("cw-a1", "caseworker")
    assert web.client.post("/overload-flags", data={"confirm": "yes"}).status_code == 403
    answer = web.client.post(
        "/overload-flags", data={"csrf_token": csrf, "confirm": "yes", "note": "x" * 301}
    )
    assert answer.status_code == 303
    assert web.api.flags == {}
    assert "Högst 300 tecken" in web.client.get("/").text
    web.client.post("/overload-flags", data={"csrf_token": csrf, "confirm": "yes"})
    assert [f.staff for f in web.api.flags.values()] == ["cw-a1"]


def test_a_caseworker_may_not_open_the_managers_flag_pages() -> None:
    web, _ = _app("cw-a1", "caseworker")
    assert web.client.get("/overload-flags").status_code == 403
    assert web.client.get("/outcome-report").status_code == 403


def test_an_incident_of_an_unknown_type_is_not_stored_and_a_good_one_is() -> None:
    web, csrf = _app("cw-a1", "caseworker")
    form = {"csrf_token": csrf, "occurred_on": "2026-12-01", "type": "shouting", "channel": "phone"}
    web.client.post("/incidents", data=form)
    assert web.api.recorded_incidents == []
    web.client.post("/incidents", data=form | {"type": "threat", "referral_id": "R-A1"})
    [incident] = web.api.recorded_incidents
    assert (incident.type, incident.channel, incident.team, incident.referral_id) == (
        "threat",
        "phone",
        "team-a",
        "R-A1",
    )


def test_a_partners_request_for_any_other_page_gets_403_and_the_start_page_sends_them_on() -> None:
    web, csrf = _app("partner-1", "partner")
    assert web.client.get("/").headers["location"] == "/consultations"
    for path in ("/referrals", "/referrals/R-A1", "/team", "/incidents", "/rotation", "/overload-flags"):
        assert web.client.get(path).status_code == 403, path
    assert (
        web.client.post("/incidents", data={"csrf_token": csrf, "occurred_on": "2026-12-01"}).status_code
        == 403
    )
    assert web.client.get("/consultations").status_code == 200


def test_a_bad_quarter_or_a_backwards_report_window_is_a_422_page() -> None:
    web, _ = _app("head", "head_of_unit")
    assert web.client.get("/incidents?quarter=2026Q9").status_code == 422
    assert web.client.get("/incidents?quarter=1999Q4").status_code == 422  # assignment's range
    assert web.client.get("/outcome-report?from=2026-06-01&to=2026-01-01").status_code == 422


def test_a_second_cancel_of_the_same_consultation_says_so_instead_of_failing() -> None:
    web, csrf = _app("partner-1", "partner")
    booked = web.client.post("/consultations", data={"csrf_token": csrf, "topic": "Samråd om en familj"})
    consultation_id = booked.headers["location"].split("booked=")[1].split("#")[0]
    for _ in range(2):  # a double click, or a second tab (assignment answers 409 the second time)
        answer = web.client.post(f"/consultations/{consultation_id}/cancel", data={"csrf_token": csrf})
        assert answer.status_code == 303
    page = web.client.get("/consultations").text
    assert "Konsultationen är avbokad" in page and "Konsultationen var redan avbokad" in page


def test_a_report_period_assignment_refuses_is_a_422_page_that_says_the_rules() -> None:
    web, _ = _app("head", "head_of_unit")
    for query in ("from=2022-01-01&to=2026-01-01", "from=2026-01-01&to=2026-06-30&change_date=2026-09-01"):
        answer = web.client.get(f"/outcome-report?{query}")
        assert answer.status_code == 422, query
        assert "Perioden får vara högst tre år" in answer.text


# The HTTP adapter against the agreed shapes


def _assignment_stand_in(seen: list[tuple[str, str, Any]]) -> FastAPI:
    """Answers as CONTRACTS.md §3a and the agreed JSON shapes say; records what was sent."""
    app = FastAPI()
    flag = {
        "flag_id": "f-1",
        "staff": "cw-a1",
        "team": "team-a",
        "note": "n",
        "raised_at": "2026-12-04T16:00:00+01:00",
        "escalate_at": "2026-12-07T11:00:00+01:00",
        "escalated_at": None,
        "action": "relieve",
        "responded_by": "mgr-a",
        "responded_at": "2026-12-04T17:00:00+01:00",
        "response_seconds": 3600,
        "comment": "c",
        "capacity_factor": "0.5",
        "until": "2026-12-19T00:00:00+01:00",
        "reassigned": None,
    }
    consultation = {
        "consultation_id": "c-1",
        "slot": "open-care",
        "team": "team-a",
        "starts_at": "2026-12-08T13:00:00+01:00",
        "ends_at": "2026-12-08T13:30:00+01:00",
    }
    incident = {
        "incident_id": "i-1",
        "occurred_on": "2026-12-03",
        "type": "threat",
        "channel": "phone",
        "team": "team-a",
        "recorded_by": "cw-a1",
        "referral_id": None,
        "recorded_at": "2026-12-03T10:00:00+01:00",
    }

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE"])
    async def answer(path: str, request: Request) -> Any:
        body = await request.json() if await request.body() else None
        seen.append(
            (request.method, request.url.path + ("?" + request.url.query if request.url.query else ""), body)
        )
        if path == "v1/staff/cw-a1/overload-flags":
            return {"flag_id": "f-1", "raised_at": flag["raised_at"], "escalate_at": flag["escalate_at"]}
        if path == "v1/overload-flags":
            return {"flags": [flag]}
        if path == "v1/overload-flags/f-1/response":
            return flag
        if path == "v1/meeting-slots":
            return {
                "slots": [
                    {
                        "slot": "open-care",
                        "kind": "consultation",
                        "title": "Öppenvården",
                        "counterpart": "Öppenvården",
                        "teams": [],
                        "starts_at": "2026-12-08T13:00:00+01:00",
                        "ends_at": "2026-12-08T15:00:00+01:00",
                        "bookings": [
                            {
                                "starts_at": "2026-12-08T13:00:00+01:00",
                                "ends_at": "2026-12-08T13:30:00+01:00",
                                "booked": False,
                            }
                        ],
                    }
                ]
            }
        if path == "v1/consultations" and request.method == "POST":
            return consultation
        if path == "v1/consultations":
            return {
                "consultations": [
                    consultation
                    | {"topic": "t", "referral_id": None, "requester": "cw-a1", "cancelled_at": None}
                ]
            }
        if path == "v1/consultations/c-1":
            return consultation | {
                "topic": "t",
                "referral_id": None,
                "requester": "cw-a1",
                "cancelled_at": "2026-12-07T10:00:00+01:00",
            }
        if path == "v1/incidents" and request.method == "POST":
            return incident
        if path == "v1/incidents":
            return {"incidents": [incident]}
        if path == "v1/incidents/summary":
            return {
                "quarter": "2026Q4",
                "from": "2026-10-01",
                "to": "2026-12-31",
                "total": 1,
                "by_type": {"threat": 1},
                "by_team": {"team-a": {"threat": 1}},
                "by_channel": {"phone": 1},
            }
        if path == "v1/referrals/R-1/safety-flag":
            return {
                "referral_id": "R-1",
                "safety_flag": None,
                "set_by": "cw-a1",
                "set_at": "2026-12-07T10:00:00+01:00",
            }
        if path == "v1/outcome-report":
            return {
                "from": "2026-01-01",
                "to": "2026-12-31",
                "change_date": "2026-07-01",
                "generated_at": "2026-12-07T10:00:00+01:00",
                "measures": [
                    {
                        "id": "m",
                        "title_sv": "Mått",
                        "title_en": "Measure",
                        "unit": "count",
                        "monthly": [
                            {"month": "2026-01", "team": None, "value": 2},
                            {"month": "2026-01", "team": "team-a", "value": None},
                        ],
                        "before": 1,
                        "after": None,
                        "whole": 1.5,
                    }
                ],
            }
        return {}

    return app


async def test_the_http_adapter_sends_and_reads_the_agreed_shapes() -> None:
    seen: list[tuple[str, str, Any]] = []
    transport = httpx.ASGITransport(app=_assignment_stand_in(seen))
    async with httpx.AsyncClient(transport=transport, base_url="http://assignment") as client:
        api = HttpStaffApi(client, client)
        me = Caller(User("cw-a1", frozenset({"caseworker"})), "t")
        raised = await api.raise_overload_flag(me, "cw-a1", None)
        [listed] = await api.overload_flags(me, {"staff": "me"})
        answered = await api.respond_overload_flag(me, "f-1", {"action": "keep", "comment": "c"})
        [slot] = await api.meeting_slots(me, None, date(2026, 12, 7), date(2027, 1, 4))
        booked = await api.book_consultation(me, "t", None)
        [mine] = await api.consultations(me)
        cancelled = await api.cancel_consultation(me, "c-1")
        recorded = await api.record_incident(me, date(2026, 12, 3), "threat", "phone", None)
        [incident] = await api.incidents(me, {"from": "2026-10-01"})
        summary = await api.incident_summary(me, "2026Q4", None)
        await api.set_safety_flag(me, "R-1", "two_staff_home_visits")
        await api.set_safety_flag(me, "R-1", None)
        report = await api.outcome_report(me, date(2026, 1, 1), date(2026, 12, 31), date(2026, 7, 1))
    assert raised.flag_id == "f-1" and raised.escalate_at is not None
    assert (listed.capacity_factor, listed.response_seconds, answered.until) == (
        0.5,
        3600.0,
        datetime.fromisoformat("2026-12-19T00:00:00+01:00"),
    )
    assert slot.bookings[0].booked is False and slot.bookings[0].requester is None
    assert (booked.team, booked.topic, booked.requester) == ("team-a", "t", "cw-a1")
    assert mine.topic == "t" and cancelled.cancelled_at is not None
    assert recorded == incident
    assert (summary.by_team, summary.total) == ((("team-a", (("threat", 1),)),), 1)
    assert report.measures[0].monthly[1].value is None and report.measures[0].after is None
    assert [(m, p) for m, p, _ in seen] == [
        ("POST", "/v1/staff/cw-a1/overload-flags"),
        ("GET", "/v1/overload-flags?staff=me"),
        ("POST", "/v1/overload-flags/f-1/response"),
        ("GET", "/v1/meeting-slots?from=2026-12-07&to=2027-01-04"),
        ("POST", "/v1/consultations"),
        ("GET", "/v1/consultations?mine=true"),
        ("DELETE", "/v1/consultations/c-1"),
        ("POST", "/v1/incidents"),
        ("GET", "/v1/incidents?from=2026-10-01"),
        ("GET", "/v1/incidents/summary?quarter=2026Q4"),
        ("PUT", "/v1/referrals/R-1/safety-flag"),
        ("DELETE", "/v1/referrals/R-1/safety-flag"),
        ("GET", "/v1/outcome-report?from=2026-01-01&to=2026-12-31&change_date=2026-07-01"),
    ]
    bodies = [b for _, _, b in seen]
    assert bodies[0] == {} and bodies[4] == {"topic": "t"} and bodies[10] == {"flag": "two_staff_home_visits"}
    assert bodies[7] == {"occurred_on": "2026-12-03", "type": "threat", "channel": "phone"}


def test_a_flag_note_and_a_consultation_topic_appear_in_no_log_line_and_no_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    web, csrf = _app("cw-a1", "caseworker")
    note, topic = "Synthetic note 7f3a about my week", "Synthetic topic 9c1e for the team"
    with caplog.at_level(logging.DEBUG):
        web.client.post("/overload-flags", data={"csrf_token": csrf, "confirm": "yes", "note": note})
        booked = web.client.post("/consultations", data={"csrf_token": csrf, "topic": topic})
        web.client.get(booked.headers["location"])
        web.client.get("/")
    assert booked.status_code == 303 and topic.split()[2] not in booked.headers["location"]
    assert note not in caplog.text and topic not in caplog.text
    assert [c.topic for c in web.api.booked.values()] == [topic]  # it stays with assignment's API
