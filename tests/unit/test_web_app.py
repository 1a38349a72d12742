"""The web app's HTTP edge against the in-memory staff API: security headers, sessions, CSRF,
the 403 page, and what the pages show."""

from __future__ import annotations

import dataclasses
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.web.adapters.memory import MemorySessionStore
from services.web.domain.model import Deadline, OnDuty, SentReview
from services.web.ports import Session
from services.web.security import COOKIE
from tests.web_support import NOW, WebApp

TEMPLATES = Path(__file__).parents[2] / "services" / "web" / "templates"


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has a form with a CSRF token"
    return match.group(1)


def test_every_response_carries_a_strict_csp_no_framing_and_no_referrer() -> None:
    web = WebApp()
    web.sign_in("cw-a1", "caseworker")
    for path in ("/", "/referrals/R-A1", "/referrals/R-B1", "/no-such-page", "/static/web.css", "/login-x"):
        headers = web.client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp, path
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp, path
        assert headers["referrer-policy"] == "no-referrer", path
        assert headers["x-content-type-options"] == "nosniff", path


def test_pages_are_never_cached_and_the_stylesheet_may_be() -> None:
    web = WebApp()
    web.sign_in("cw-a1", "caseworker")
    assert web.client.get("/referrals/R-A1/dossier").headers["cache-control"] == "no-store"
    assert web.client.get("/").headers["cache-control"] == "no-store"
    assert "cache-control" not in web.client.get("/static/web.css").headers


def test_hsts_and_secure_cookies_only_when_served_over_https() -> None:
    secure, plain = WebApp(https_only=True), WebApp(https_only=False)
    response = secure.client.get("/signed-out")
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie
    plain_response = plain.client.get("/signed-out")
    assert "strict-transport-security" not in plain_response.headers
    assert "Secure" not in plain_response.headers["set-cookie"]


def test_templates_hold_no_inline_script_or_style() -> None:
    for template in TEMPLATES.glob("*.html"):
        source = template.read_text()
        assert "style=" not in source and "<style" not in source, template.name
        scripts = re.findall(r"<script[^>]*>", source)
        assert all('src="/static/' in s for s in scripts), template.name
        assert re.search(r"\son[a-z]+\s*=", source) is None, template.name  # no inline handlers


def test_a_page_without_a_session_sends_the_user_to_sign_in_and_remembers_the_page() -> None:
    web = WebApp()
    response = web.client.get("/referrals/R-A1")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Freferrals%2FR-A1"


def test_an_htmx_poll_without_a_session_asks_the_browser_to_sign_in() -> None:
    web = WebApp()
    response = web.client.get("/fragments/queue/mine", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["hx-redirect"].startswith("/login?next=")


def test_a_session_idle_for_thirty_minutes_signs_the_user_out_and_back_to_the_same_page() -> None:
    web = WebApp()
    web.sign_in("cw-a1", "caseworker")
    assert web.client.get("/referrals").status_code == 200
    web.clock.set(web.clock.now() + timedelta(minutes=29))
    assert web.client.get("/referrals").status_code == 200  # use keeps it alive
    web.clock.set(web.clock.now() + timedelta(minutes=30))
    response = web.client.get("/referrals")
    assert (response.status_code, response.headers["location"]) == (303, "/login?next=%2Freferrals")
    assert all(s.user is None for s in web.sessions.sessions.values())


def test_a_form_without_the_csrf_token_is_refused_and_nothing_is_done() -> None:
    web = WebApp()
    web.sign_in("cw-a1", "caseworker")
    for data in ({}, {"csrf_token": "forged"}):
        response = web.client.post("/referrals/R-A1/acknowledge", data=data)
        assert response.status_code == 403
        assert "säkerhetskod" in response.text
    assert web.api.done == []


def test_a_form_with_the_csrf_token_acts_as_the_signed_in_user() -> None:
    web = WebApp()
    session = web.sign_in("cw-a1", "caseworker")
    page = web.client.get("/referrals/R-A1").text
    response = web.client.post(
        "/referrals/R-A1/decision", data={"csrf_token": _csrf(page), "decision": "open_investigation"}
    )
    assert (response.status_code, response.headers["location"]) == (303, "/referrals/R-A1")
    staff, referral, action, body = web.api.done[0]
    assert (staff, referral, action, body["decision"]) == ("cw-a1", "R-A1", "decision", "open_investigation")
    assert body["at"] == web.clock.now().isoformat()
    assert _csrf(page) == session.csrf_token
    assert "Sparat." in web.client.get("/referrals/R-A1").text


def test_another_teams_referral_and_a_missing_one_give_the_same_403_page() -> None:
    web = WebApp()
    web.sign_in("cw-a1", "caseworker")
    other = web.client.get("/referrals/R-B1/dossier")
    missing = web.client.get("/referrals/R-NOPE/dossier")
    malformed = web.client.get("/referrals/R%20%3Cx%3E/dossier")
    assert other.status_code == missing.status_code == malformed.status_code == 403
    assert "Vi säger inte om ärendet finns" in other.text
    assert other.text.replace("R-B1", "") == missing.text.replace("R-NOPE", "")
    assert ("cw-a1", "R-B1", "denied") in web.api.access_log


def test_the_dossier_says_that_reading_is_logged_and_keeps_personal_details_out_of_the_title(
    caplog: pytest.LogCaptureFixture,
) -> None:
    web = WebApp()
    web.sign_in("cw-a1", "caseworker")
    caplog.set_level(logging.DEBUG)
    response = web.client.get("/referrals/R-A1/dossier")
    child = web.api.dossiers["R-A1"]["child"]
    assert response.status_code == 200
    assert "Din läsning loggas" in response.text
    title = re.search(r"<title>(.*)</title>", response.text)
    assert title is not None
    secrets_ = [v for v in (child.get("name"), child.get("personal_number")) if v]
    assert secrets_, "the synthetic child has a name or a personal number"
    assert any(s in response.text for s in secrets_)  # shown on the page …
    assert not any(s in title.group(1) for s in secrets_)  # … never in the title
    assert not any(s in caplog.text for s in secrets_)  # … nor in a log line
    assert ("cw-a1", "R-A1", "read") in web.api.access_log


def test_a_caseworker_sees_their_own_referrals_with_the_deadline_in_words() -> None:
    web = WebApp()
    web.sign_in("cw-a1", "caseworker")
    page = web.client.get("/referrals").text
    assert "R-A1" in page and "R-A2" not in page and "R-B1" not in page
    assert "Skyddsbedömning: ska vara klar om 2 dagar" in page
    assert 'hx-get="/fragments/queue/mine"' in page and 'hx-trigger="every 30s"' in page


def test_intake_sees_every_open_referral_most_urgent_first() -> None:
    web = WebApp()
    web.sign_in("in-1", "intake")
    page = web.client.get("/incoming").text
    assert page.index("R-A2") < page.index("R-B1") < page.index("R-A1")


def test_the_start_page_shows_who_is_on_duty_and_where_a_referral_arriving_now_goes() -> None:
    web = WebApp()
    web.sign_in("cw-a1", "caseworker")
    page = web.client.get("/").text
    assert "I tjänst nu" in page and "En anmälan som kommer in nu går till" in page
    assert "<strong>team-a</strong> till 2026-12-18 10:00" in page
    assert "går till: <strong>team-a</strong>" in page


def test_after_office_hours_a_referral_arriving_now_goes_to_the_team_on_duty_next_morning() -> None:
    web = WebApp()
    handover = datetime(2026, 12, 18, 6, 0, tzinfo=UTC)  # Friday 07:00 local, before the office opens
    web.api.duties = [
        OnDuty("team-a", NOW, handover, "rotation"),
        OnDuty("team-b", handover, handover + timedelta(days=14), "override"),
    ]
    web.api.assignment_moment = lambda at: handover if at < handover else at  # as assignment answers
    web.clock.set(datetime(2026, 12, 17, 19, 0, tzinfo=UTC))  # Thursday 20:00 local
    web.sign_in("mgr-a", "manager")
    page = web.client.get("/").text
    assert "<strong>team-a</strong> till 2026-12-18 07:00" in page
    assert "går till: <strong>team-b</strong>" in page


def test_a_manager_sees_their_teams_load_against_capacity_and_can_record_an_absence() -> None:
    web = WebApp()
    web.sign_in("mgr-a", "manager")
    page = web.client.get("/team").text
    assert 'value="7.0"' in page and "7 av 6 ärenden" in page and "cw-b1" not in page
    response = web.client.post(
        "/staff/absences",
        data={
            "csrf_token": _csrf(page),
            "staff_id": "cw-a1",
            "starts_on": "2026-12-08",
            "ends_on": "2026-12-10",
            "kind": "sick",
        },
    )
    assert response.status_code == 303
    assert ("mgr-a", "cw-a1", "absence", {"kind": "sick"}) in web.api.done
    assert "Sjuk 2026-12-08–2026-12-10" in web.client.get("/team").text


def test_the_team_board_shows_new_hires_their_mentor_and_the_mentors_load() -> None:
    web = WebApp()
    web.sign_in("mgr-a", "manager")
    page = web.client.get("/team").text
    hire_row = page.split('<th scope="row">cw-a2', 1)[1].split("</th>", 1)[0]
    assert "Nyanställd" in hire_row and "Mentor: cw-a1 (Mentorns belastning: 4.5 av 6 ärenden)" in hire_row
    mentor_row = page.split('<th scope="row">cw-a1', 1)[1].split("</th>", 1)[0]
    assert "Mentor för: cw-a2" in mentor_row and "Nyanställd" not in mentor_row


def test_a_caseworker_cannot_reach_the_team_board() -> None:
    web = WebApp()
    web.sign_in("cw-a1", "caseworker")
    assert web.client.get("/team").status_code == 403


def test_a_refused_registration_is_explained_beside_the_field_on_the_next_page() -> None:
    web = WebApp()
    web.sign_in("in-1", "intake")
    page = web.client.get("/referrals/R-A1").text
    token = _csrf(page)
    web.client.post("/referrals/R-A1/registration", data={"csrf_token": token, "system_case_number": "IFO-1"})
    web.client.post("/referrals/R-A1/registration", data={"csrf_token": token, "system_case_number": "IFO-2"})
    page = web.client.get("/referrals/R-A1").text
    assert "Något behöver rättas, se formuläret." in page
    assert '<p id="case-number-error" class="field-error">Det gick inte att spara: Conflict</p>' in page
    assert 'aria-invalid="true" aria-describedby="case-number-error"' in page
    assert "case-number-error" not in web.client.get("/referrals/R-A1").text  # shown once


def test_english_can_be_chosen_and_is_kept_for_the_session() -> None:
    web = WebApp()
    web.sign_in("cw-a1", "caseworker")
    page = web.client.get("/referrals").text
    assert '<html lang="sv">' in page
    web.client.post(
        "/language", data={"csrf_token": _csrf(page), "language": "en", "return_to": "/referrals"}
    )
    page = web.client.get("/referrals").text
    assert '<html lang="en">' in page and "due in 2 days" in page


def test_sign_out_ends_the_session_so_its_cookie_opens_nothing() -> None:
    web = WebApp()
    session = web.sign_in("cw-a1", "caseworker")
    page = web.client.get("/").text
    response = web.client.post("/logout", data={"csrf_token": _csrf(page)})
    assert response.headers["location"] == "/signed-out"
    assert session.session_id not in web.sessions.sessions
    web.client.cookies.set(COOKIE, session.session_id)
    assert web.client.get("/").status_code == 303


def test_a_token_the_staff_apis_no_longer_accept_leads_to_signing_in_again() -> None:
    web = WebApp()
    web.api.valid_tokens = set()
    web.sign_in("cw-a1", "caseworker")
    response = web.client.get("/referrals")
    assert (response.status_code, response.headers["location"]) == (303, "/login?next=%2Freferrals")
    assert all(s.token is None for s in web.sessions.sessions.values())


def test_the_layout_has_landmarks_a_skip_link_and_swedish_as_its_language() -> None:
    web = WebApp()
    web.sign_in("cw-a1", "caseworker")
    page = web.client.get("/").text
    assert '<html lang="sv">' in page and '<a class="skip-link" href="#main">' in page
    assert all(tag in page for tag in ("<header", "<nav aria-label=", '<main id="main"', "<footer"))


def test_the_head_of_unit_sees_every_team_on_the_overview_and_a_manager_may_not() -> None:
    web = WebApp()
    web.sign_in("head", "head_of_unit")
    page = web.client.get("/overview").text
    assert '<th scope="row">team-a</th>' in page and '<th scope="row">team-b</th>' in page
    manager = WebApp()
    manager.sign_in("mgr-a", "manager")
    assert manager.client.get("/overview").status_code == 403


async def test_sessions_long_unused_are_swept_out_of_memory() -> None:
    store = MemorySessionStore(forget_after=timedelta(minutes=30))
    old = Session("old", "c", NOW - timedelta(minutes=31))
    await store.put(old)
    for n in range(MemorySessionStore.SWEEP_EVERY - 1):
        await store.put(Session(f"s{n}", "c", NOW))
    assert "old" not in store.sessions and len(store.sessions) == MemorySessionStore.SWEEP_EVERY - 1


def test_a_flood_of_cookieless_requests_does_not_grow_memory_without_bound() -> None:
    web = WebApp()
    for _ in range(3):
        web.client.cookies.clear()
        web.client.get("/signed-out")
    web.clock.set(web.clock.now() + timedelta(hours=2))
    for _ in range(MemorySessionStore.SWEEP_EVERY):
        web.client.cookies.clear()
        web.client.get("/signed-out")
    assert all(s.last_seen == web.clock.now() for s in web.sessions.sessions.values())


def test_the_head_of_units_board_shows_every_team_and_a_managers_only_their_own() -> None:
    head, manager = WebApp(), WebApp()
    head.sign_in("head", "head_of_unit")
    manager.sign_in("mgr-b", "manager")
    head_page, manager_page = head.client.get("/team").text, manager.client.get("/team").text
    assert all(f'id="load-{s}"' in head_page for s in ("cw-a1", "cw-a2", "cw-b1"))
    assert 'id="load-cw-b1"' in manager_page and 'id="load-cw-a1"' not in manager_page


def test_an_absence_that_ends_before_it_starts_is_explained_beside_the_last_day_and_not_sent() -> None:
    web = WebApp()
    web.sign_in("mgr-a", "manager")
    token = _csrf(web.client.get("/team").text)
    form = {
        "csrf_token": token,
        "staff_id": "cw-a1",
        "starts_on": "2026-12-10",
        "ends_on": "2026-12-08",
        "kind": "leave",
    }
    web.client.post("/staff/absences", data=form)
    page = web.client.get("/team").text
    assert "Sista dagen kan inte vara före första dagen." in page
    assert 'aria-describedby="absence-ends-error"' in page
    assert web.api.done == []


def test_a_caseworker_sees_their_own_load_against_capacity_on_the_start_page_and_intake_sees_none() -> None:
    web = WebApp()
    web.sign_in("cw-a2", "caseworker")
    page = web.client.get("/").text
    assert "Min belastning" in page and 'id="own-load"' in page and "7 av 6 ärenden" in page
    assert "4.5 av 6" not in page  # nobody else's row
    intake = WebApp()
    intake.sign_in("in-1", "intake")
    assert "Min belastning" not in intake.client.get("/").text


def test_the_reporter_is_told_from_the_referral_page_once_decided_and_the_feedback_clock_is_shown() -> None:
    web = WebApp()
    feedback_due = Deadline("reporter_feedback", NOW + timedelta(days=3), None, "ok")
    item = web.api.queue["R-A1"]
    web.api.queue["R-A1"] = dataclasses.replace(item, deadlines=(*item.deadlines, feedback_due))
    web.sign_in("cw-a1", "caseworker")
    page = web.client.get("/referrals/R-A1").text
    assert 'action="/referrals/R-A1/feedback-sent"' in page
    feedback = re.search(r'<p id="feedback-deadline">(.*?)</p>', page, re.S)
    assert (
        feedback
        and "Återkoppling till anmälare:" in feedback[1]
        and "ska vara klar om 3 dagar" in feedback[1]
    )
    token = _csrf(page)
    web.client.post("/referrals/R-A1/feedback-sent", data={"csrf_token": token, "channel": "letter"})
    refused = web.client.get("/referrals/R-A1").text  # no decision yet: intake answers 409
    assert 'aria-describedby="feedback-channel-error"' in refused and "Conflict" in refused
    web.client.post("/referrals/R-A1/feedback-sent", data={"csrf_token": token, "channel": "pigeon"})
    assert "Välj brev eller e-post" in web.client.get("/referrals/R-A1").text
    assert not [d for d in web.api.done if d[2] == "feedback-sent"]
    web.client.post("/referrals/R-A1/decision", data={"csrf_token": token, "decision": "no_investigation"})
    saved = web.client.post("/referrals/R-A1/feedback-sent", data={"csrf_token": token, "channel": "letter"})
    assert saved.status_code == 303 and "Sparat." in web.client.get("/referrals/R-A1").text
    assert [d for d in web.api.done if d[2] == "feedback-sent"] == [
        ("cw-a1", "R-A1", "feedback-sent", {"channel": "letter"})
    ]


def test_feedback_for_another_teams_referral_gets_the_403_page_and_nothing_is_recorded() -> None:
    web = WebApp()
    web.sign_in("cw-a1", "caseworker")
    token = _csrf(web.client.get("/").text)
    response = web.client.post(
        "/referrals/R-B1/feedback-sent", data={"csrf_token": token, "channel": "email"}
    )
    assert response.status_code == 403
    assert not [d for d in web.api.done if d[2] == "feedback-sent"]


def test_a_manager_ends_an_absence_early_from_the_team_board_and_another_teams_manager_may_not() -> None:
    web = WebApp()
    web.sign_in("mgr-a", "manager")
    token = _csrf(web.client.get("/team").text)
    sick = {"csrf_token": token, "staff_id": "cw-a1", "starts_on": "2026-12-07", "ends_on": "2026-12-11"}
    web.client.post("/staff/absences", data=sick | {"kind": "sick"})
    page = web.client.get("/team").text
    assert 'action="/staff/absences/end"' in page and "Avsluta frånvaro i förtid" in page
    back = {"csrf_token": token, "staff_id": "cw-a1", "back_on": "2026-12-09"}
    assert web.client.post("/staff/absences/end", data=back).status_code == 303
    assert "Sjuk 2026-12-07–2026-12-08" in web.client.get("/team").text
    web.client.post("/staff/absences/end", data=back)  # nothing runs on that day any more
    refused = web.client.get("/team").text
    assert 'aria-describedby="end-absence-back-error"' in refused and "Conflict" in refused
    web.client.post("/staff/absences/end", data=back | {"back_on": "soon"})
    assert 'aria-invalid="true"' in web.client.get("/team").text
    other = WebApp(web.api)
    other.sign_in("mgr-b", "manager")
    token_b = _csrf(other.client.get("/team").text)
    denied = other.client.post(
        "/staff/absences/end", data=back | {"csrf_token": token_b, "back_on": "2026-12-08"}
    )
    assert denied.status_code == 403
    assert [d[2] for d in web.api.done].count("absence-end") == 1


def test_a_manager_sees_the_rotation_calendar_and_puts_another_team_on_duty_for_a_while() -> None:
    web = WebApp()
    web.sign_in("mgr-a", "manager")
    page = web.client.get("/rotation").text
    assert "Jourschema" in page and '<th scope="row">team-a</th>' in page
    assert 'href="/rotation"' in page and "Prenumerera på kalendern" in page  # the subscription link
    override = {
        "csrf_token": _csrf(page),
        "team": "team-c",
        "starts_at": "2026-12-09T08:00",
        "ends_at": "2026-12-10T08:00",
        "reason": "Utbildningsdag",
    }
    assert web.client.post("/rotation/overrides", data=override).status_code == 303
    assert ("mgr-a", "team-c", "override", {"reason": "Utbildningsdag"}) in web.api.done
    changed = web.client.get("/rotation").text
    assert (
        '<th scope="row">team-c</th><td>2026-12-09 08:00</td><td>2026-12-10 08:00</td><td>Ja</td>' in changed
    )
    web.client.post("/rotation/overrides", data=override | {"ends_at": "2026-12-08T08:00"})
    backwards = web.client.get("/rotation").text
    assert 'aria-describedby="override-ends-error"' in backwards and "ends_at" in backwards
    web.client.post("/rotation/overrides", data=override | {"team": "team-x"})
    assert 'aria-invalid="true"' in web.client.get("/rotation").text
    assert [d[2] for d in web.api.done].count("override") == 1


def test_a_caseworker_gets_the_403_page_for_the_rotation_calendar_and_cannot_override() -> None:
    web = WebApp()
    web.sign_in("cw-a1", "caseworker")
    assert web.client.get("/rotation").status_code == 403
    token = _csrf(web.client.get("/").text)
    form = {
        "csrf_token": token,
        "team": "team-c",
        "starts_at": "2026-12-09T08:00",
        "ends_at": "2026-12-10T08:00",
    }
    response = web.client.post("/rotation/overrides", data=form | {"reason": "x"})
    assert response.status_code == 403 and not [d for d in web.api.done if d[2] == "override"]


def test_the_head_of_unit_reviews_the_access_log_with_filters_and_pages() -> None:
    web = WebApp()
    web.api.access_log = [("cw-a1", "R-A1", "read"), ("cw-a1", "R-B1", "denied"), ("cw-b1", "R-B1", "read")]
    web.api.log_page = 2
    web.sign_in("head", "head_of_unit")
    page = web.client.get("/access-log").text
    assert 'href="/access-log"' in page and page.count("<tr>") == 3  # a header row and two rows
    following = re.search(r'<a href="/access-log\?([^"]+)">Nästa sida</a>', page)
    assert following is not None
    rest = web.client.get("/access-log?" + following[1].replace("&amp;", "&")).text
    assert rest.count("<tr>") == 2 and "cw-b1" in rest and "Nästa sida" not in rest
    only = web.client.get("/access-log", params={"staff": "cw-a1", "referral": "R-B1"}).text
    assert only.count("<tr>") == 2 and "denied" in only
    bad = web.client.get("/access-log", params={"from": "last week"})
    assert bad.status_code == 422 and 'aria-describedby="log-to-error"' in bad.text


def test_a_manager_reviews_only_their_teams_rows_and_a_caseworker_gets_the_403_page() -> None:
    web = WebApp()
    web.api.access_log = [("cw-a1", "R-A1", "read"), ("cw-b1", "R-B1", "read")]
    web.sign_in("mgr-a", "manager")
    page = web.client.get("/access-log").text
    assert "R-A1" in page and "R-B1" not in page
    caseworker = WebApp(web.api)
    caseworker.sign_in("cw-a1", "caseworker")
    assert caseworker.client.get("/access-log").status_code == 403


def test_the_head_sees_the_monthly_reviews_with_their_anchor_and_a_link_to_the_months_rows() -> None:
    web = WebApp()
    web.api.reviews = [
        SentReview(
            "2026-11", NOW - timedelta(days=3), 412, (("denied", 2), ("break_glass", 0)), 977, "ab" * 32
        ),
        SentReview("2026-10", NOW - timedelta(days=34)),  # sent before intake kept the figures
    ]
    web.sign_in("head", "head_of_unit")
    page = web.client.get("/access-log").text
    assert '<a href="/access-log?from=2026-11-01&amp;to=2026-11-30"' in page
    assert "412" in page and "Nekade försök: 2" in page and "Nödåtkomst" not in page
    assert f"#977 {'ab' * 32}" in page and "inte sparat" in page
    assert page.index("Månadsgranskningar") < page.index("Loggens rader")
    manager = WebApp(web.api)
    manager.sign_in("mgr-a", "manager")
    assert "Månadsgranskningar" not in manager.client.get("/access-log").text
