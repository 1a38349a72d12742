"""The web app in a real browser: Debian's Chromium driven by Playwright, signing in through the
dev OpenID provider, axe-core on the pages, and one flow done with the keyboard alone.

The staff APIs are the in-memory fake here (the real-services walk is the next step, docs/WEB.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page

from services.web.adapters.memory import FakeStaffApi, MemorySessionStore
from services.web.dev_identity import run_in_thread
from services.web.main import create_app
from shared.clock import SystemClock
from tests.web_browser_support import assert_accessible, chromium, free_port, fresh_page, serving, sign_in
from tests.web_support import seeded_api, web_settings

STAFF = {
    "cw-a1": {"roles": ["caseworker"]},
    "in-1": {"roles": ["intake"]},
    "mgr-a": {"roles": ["manager"]},
    "head": {"roles": ["head_of_unit"]},
}


@dataclass
class Site:
    """The running web app and what it talks to."""

    url: str
    api: FakeStaffApi


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
        with serving(create_app(settings, api, MemorySessionStore(), SystemClock()), port):
            yield Site(url, api)


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


def test_a_manager_s_team_board_passes_axe(site: Site, page: Page) -> None:
    _sign_in(page, site, "/team", "mgr-a")
    assert page.locator("meter").count() == 2
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
