"""The rotation page's calendar subscription link, on the fake staff API: made with CSRF, its
URL shown once (read-only, with Outlook's steps), the own links listed, revoked; managers only."""

from __future__ import annotations

import logging
import re

import pytest

from tests.web_support import WebApp

FEED_URL = re.compile(r'<input id="feed-url" type="text" readonly value="([^"]+)"')


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def _manager() -> WebApp:
    web = WebApp()
    web.api.now = web.clock.now
    web.sign_in("mgr-a", "manager")
    return web


def test_a_manager_makes_a_link_sees_it_once_and_revokes_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    web = _manager()
    page = web.client.get("/rotation").text
    assert "Prenumerera på kalendern" in page and "Du har inga prenumerationslänkar." in page
    created = web.client.post("/rotation/calendar-feeds", data={"csrf_token": _csrf(page)})
    assert created.status_code == 303 and created.headers["location"].startswith("/rotation")
    shown = web.client.get("/rotation").text
    found = FEED_URL.search(shown)
    assert found and found.group(1) == "http://assignment.test/v1/rotation/calendar/fake-token-1.ics"
    assert "Prenumerera från webben" in shown and 'aria-describedby="feed-steps"' in shown
    again = web.client.get("/rotation").text
    assert FEED_URL.search(again) is None and "fake-token-1" not in again  # shown once
    assert "<td>Gäller</td>" in again and "Återkalla länken skapad 2026-12-07" in again
    revoked = web.client.post("/rotation/calendar-feeds/1/revoke", data={"csrf_token": _csrf(again)})
    assert revoked.status_code == 303
    after = web.client.get("/rotation").text
    assert "Länken är återkallad" in after and "<td>Återkallad eller utgången</td>" in after
    assert "/rotation/calendar-feeds/1/revoke" not in after
    assert ("mgr-a", "1", "revoke-feed", {}) in web.api.done
    assert "fake-token-1" not in caplog.text


def test_without_the_csrf_token_nothing_is_made_or_revoked() -> None:
    web = _manager()
    assert web.client.post("/rotation/calendar-feeds", data={}).status_code == 403
    assert web.api.feeds == {}
    page = web.client.get("/rotation").text
    web.client.post("/rotation/calendar-feeds", data={"csrf_token": _csrf(page)})
    assert web.client.post("/rotation/calendar-feeds/1/revoke", data={"csrf_token": "x"}).status_code == 403
    assert all(feed.active for _, feed in web.api.feeds.values())


def test_a_caseworker_cannot_make_a_link_here_and_an_unknown_link_is_the_403_page() -> None:
    web = WebApp()
    web.sign_in("cw-a1", "caseworker")
    token = _csrf(web.client.get("/").text)
    assert web.client.post("/rotation/calendar-feeds", data={"csrf_token": token}).status_code == 403
    assert web.api.feeds == {}
    manager = _manager()
    page = manager.client.get("/rotation").text
    assert (
        manager.client.post("/rotation/calendar-feeds/9/revoke", data={"csrf_token": _csrf(page)}).status_code
        == 403
    )


def test_the_link_section_in_english() -> None:
    web = _manager()
    session = next(iter(web.sessions.sessions.values()))
    session.language = "en"
    page = web.client.get("/rotation").text
    web.client.post("/rotation/calendar-feeds", data={"csrf_token": _csrf(page)})
    shown = web.client.get("/rotation").text
    assert (
        "Subscribe to the calendar" in shown and "Subscribe from web" in shown and "Revoke the link" in shown
    )
