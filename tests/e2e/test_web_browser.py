"""The web app in a real browser: Debian's Chromium driven by Playwright, signing in through the
dev OpenID provider, axe-core on the pages, and one flow done with the keyboard alone.

The staff APIs are the in-memory fake here (the real-services walk is the next step, docs/WEB.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page

from services.web.adapters.memory import FakeStaffApi, MemorySessionStore
from services.web.dev_identity import run_in_thread
from services.web.main import create_app
from shared.clock import FixedClock
from tests.web_browser_support import assert_accessible, chromium, free_port, fresh_page, serving, sign_in
from tests.web_support import NOW, seeded_api, web_settings

STAFF = {
    "cw-a1": {"roles": ["caseworker"]},
    "in-1": {"roles": ["intake"]},
    "mgr-a": {"roles": ["manager"]},
    "head": {"roles": ["head_of_unit"]},
}


@dataclass
class Site:
    """The running web app, what it talks to, and its clock (which the test may move on)."""

    url: str
    api: FakeStaffApi
    clock: FixedClock


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with run_in_thread(STAFF) as provider:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        settings = web_settings(
            f"http://localhost:{provider.server_port}",
            redirect_url=f"{url}/auth/callback",
            upstream_token="id_token",
        )
        api = seeded_api()
        clock = FixedClock(NOW)
        with serving(create_app(settings, api, MemorySessionStore(), clock), port):
            yield Site(url, api, clock)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with fresh_page(browser) as opened:
        yield opened


def _sign_in(page: Page, site: Site, path: str, staff_id: str) -> None:
    sign_in(page, site.url, path, staff_id)


def _assert_accessible(page: Page) -> None:
    assert_accessible(page)


def test_a_caseworker_signs_in_and_the_pages_pass_axe(site: Site, page: Page) -> None:
    _sign_in(page, site, "/referrals", "cw-a1")
    assert page.get_by_role("heading", level=1).inner_text() == "Mina ärenden"
    assert page.locator("html").get_attribute("lang") == "sv"
    _assert_accessible(page)
    for path in ("/", "/referrals/R-A1", "/referrals/R-A1/dossier", "/referrals/R-B1/dossier"):
        page.goto(site.url + path)
        _assert_accessible(page)
    assert "Vi säger inte om ärendet finns" in page.content()  # R-B1 is another team's


def test_a_manager_s_team_board_passes_axe_also_with_an_error_tied_to_its_field(
    site: Site, page: Page
) -> None:
    _sign_in(page, site, "/team", "mgr-a")
    assert page.locator("meter").count() == 2
    _assert_accessible(page)
    page.get_by_label("Första dag").fill("2026-12-10")
    page.get_by_label("Sista dag").fill("2026-12-08")
    page.get_by_role("button", name="Spara").click()
    last_day = page.get_by_label("Sista dag")
    assert last_day.get_attribute("aria-invalid") == "true"
    assert page.locator("#" + str(last_day.get_attribute("aria-describedby"))).inner_text() == (
        "Sista dagen kan inte vara före första dagen."
    )
    _assert_accessible(page)


def test_the_head_of_units_overview_passes_axe(site: Site, page: Page) -> None:
    _sign_in(page, site, "/overview", "head")
    assert page.get_by_role("row").count() == 3  # a header row and one per team
    _assert_accessible(page)


def test_intake_acknowledges_a_referral_with_the_keyboard_alone(site: Site, page: Page) -> None:
    _sign_in(page, site, "/incoming", "in-1")
    assert _tab(page) == "Hoppa till innehållet"
    page.keyboard.press("Enter")
    # The skip link lands in main: the next stop is the queue's most urgent referral.
    assert _tab(page) == "R-A2"
    page.keyboard.press("Enter")
    page.wait_for_url(site.url + "/referrals/R-A2")
    stops = []
    while (name := _tab(page)) != "Kvittera":
        stops.append(name)
        assert len(stops) < 20, stops
    # Reading order: skip link, header, menu, then the page's content.
    assert stops == [
        "Hoppa till innehållet",
        "Orosanmälningar",
        "English",
        "Logga ut",
        "Start",
        "Inkommande",
        "Läs anmälan",
    ]
    page.keyboard.press("Enter")
    page.wait_for_url(site.url + "/referrals/R-A2")
    assert page.get_by_role("status").inner_text() == "Sparat."
    assert ("in-1", "R-A2", "acknowledge", {}) in site.api.done


def _tab(page: Page) -> str:
    page.keyboard.press("Tab")
    return _focused(page)


def _focused(page: Page) -> str:
    return str(page.evaluate("() => (document.activeElement.innerText || '').trim()"))


def test_a_form_whose_csrf_token_was_tampered_with_gets_the_403_page_and_does_nothing(
    site: Site, page: Page
) -> None:
    _sign_in(page, site, "/referrals/R-A1", "cw-a1")
    before = list(site.api.done)
    page.evaluate(
        "() => document.querySelectorAll('input[name=csrf_token]').forEach(i => i.value = 'forged')"
    )
    page.get_by_role("button", name="Kvittera").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Formuläret kunde inte skickas"
    _assert_accessible(page)
    assert site.api.done == before


def test_after_thirty_idle_minutes_the_user_signs_in_again_and_lands_on_the_page_they_opened(
    site: Site, page: Page
) -> None:
    _sign_in(page, site, "/referrals", "cw-a1")
    site.clock.set(site.clock.now() + timedelta(minutes=31))
    try:
        page.get_by_role("link", name="R-A1").click()
        page.get_by_role("button", name="cw-a1", exact=True).click()  # the provider's form again
        page.wait_for_url(site.url + "/referrals/R-A1")
        assert page.get_by_role("heading", level=1).inner_text() == "Ärende R-A1"
    finally:
        site.clock.set(NOW)


def test_the_english_pages_and_the_signed_out_page_pass_axe(site: Site, page: Page) -> None:
    _sign_in(page, site, "/", "mgr-a")
    page.get_by_role("button", name="English").click()
    page.wait_for_url(site.url + "/")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", level=1).inner_text() == "Your work"
    _assert_accessible(page)
    page.goto(site.url + "/team")
    _assert_accessible(page)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(site.url + "/signed-out")
    assert page.get_by_role("heading", level=1).inner_text() == "You are signed out."
    _assert_accessible(page)
    page.goto(site.url + "/team")
    assert page.get_by_role("button", name="mgr-a", exact=True).is_visible()  # the provider's form again
