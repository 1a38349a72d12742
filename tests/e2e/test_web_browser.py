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
from services.web.domain.model import SentReview
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


def test_the_head_of_units_overview_and_access_log_pass_axe(site: Site, page: Page) -> None:
    _sign_in(page, site, "/overview", "head")
    assert page.get_by_role("row").count() == 3  # a header row and one per team
    _assert_accessible(page)
    site.api.reviews = [
        SentReview(
            "2026-11", NOW - timedelta(days=6), 412, (("denied", 2), ("unusual_volume", 1)), 977, "ab" * 32
        ),
        SentReview("2026-10", NOW - timedelta(days=37)),
    ]
    try:
        page.goto(site.url + "/access-log")
        _assert_accessible(page)
        page.get_by_role("link", name="Visa månadens rader 2026-11").click()
        page.wait_for_url(site.url + "/access-log?from=2026-11-01&to=2026-11-30")
        assert page.get_by_label("Från och med dag").input_value() == "2026-11-01"
        _assert_accessible(page)
    finally:
        site.api.reviews = []
    page.goto(site.url + "/access-log")
    page.get_by_label("Personal-id").fill("cw-a1")
    page.get_by_role("button", name="Visa").click()
    page.wait_for_url(site.url + "/access-log?staff=cw-a1&referral=&from=&to=")
    _assert_accessible(page)


def test_the_rotation_calendar_and_the_caseworkers_own_load_pass_axe(site: Site, page: Page) -> None:
    _sign_in(page, site, "/rotation", "mgr-a")
    assert page.get_by_role("heading", level=1).inner_text() == "Jourschema"
    _assert_accessible(page)
    page.get_by_role("button", name="Spara").click()  # empty required fields: the browser stops it
    assert page.url == site.url + "/rotation"
    _assert_accessible(page)
    with fresh_page(page.context.browser) as other:  # type: ignore[arg-type]
        sign_in(other, site.url, "/", "cw-a1")
        assert other.locator("#own-load").count() == 1
        _assert_accessible(other)


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
        "Mötestider och konsultationer",
        "Hot och våld",
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


# Every page of each role, as it looks signed in (the 403 page is R-B1's dossier for team-a).
PAGES_BY_ROLE = {
    "cw-a1": ("/", "/referrals", "/referrals/R-A1", "/referrals/R-A1/dossier", "/referrals/R-B1/dossier"),
    "mgr-a": ("/team", "/rotation", "/referrals/R-A2", "/no-such-page"),
    "head": ("/overview", "/access-log"),
    "in-1": ("/incoming",),
}
NARROW = {"width": 320, "height": 640}  # WCAG 1.4.10 reflow: 320 CSS px, no sideways scrolling
ZOOMED = {"width": 640, "height": 400}  # a 1280 px wide window at 200 % zoom


@pytest.mark.parametrize("viewport", [NARROW, ZOOMED], ids=["320px", "zoom200"])
def test_every_page_reflows_at_320_px_and_at_200_percent_zoom_with_every_control_in_reach(
    site: Site, browser: Browser, viewport: dict[str, int]
) -> None:
    for staff_id, paths in PAGES_BY_ROLE.items():
        context = browser.new_context(
            viewport=viewport,  # type: ignore[arg-type]
            device_scale_factor=2 if viewport is ZOOMED else 1,
            locale="sv-SE",
            timezone_id="Europe/Stockholm",
        )
        try:
            page = context.new_page()
            sign_in(page, site.url, paths[0], staff_id)
            for path in paths:
                page.goto(site.url + path)
                assert _no_sideways_scrolling(page), f"{path} scrolls sideways at {viewport}"
                assert _controls_outside_the_viewport(page) == [], path
        finally:
            context.close()


def _no_sideways_scrolling(page: Page) -> bool:
    return bool(
        page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    )


def _controls_outside_the_viewport(page: Page) -> list[str]:
    """Buttons, fields and menu links (not the skip link, which shows on focus) cut off at the sides."""
    return list(
        page.evaluate(
            """() => {
              const width = document.documentElement.clientWidth;
              const controls = 'button, input:not([type=hidden]), select, textarea, nav a';
              return [...document.querySelectorAll(controls)]
                .filter(e => { const r = e.getBoundingClientRect(); return r.left < 0 || r.right > width; })
                .map(e => e.outerHTML.slice(0, 80));
            }"""
        )
    )


def test_the_404_503_and_sign_in_failed_pages_pass_axe(site: Site, page: Page) -> None:
    _sign_in(page, site, "/", "cw-a1")
    response = page.goto(site.url + "/no-such-page")
    assert response is not None and response.status == 404
    _assert_accessible(page)
    site.api.down = True
    try:
        response = page.goto(site.url + "/referrals")
        assert response is not None and response.status == 503
        _assert_accessible(page)
    finally:
        site.api.down = False
    response = page.goto(site.url + "/auth/callback?code=x&state=not-ours")
    assert response is not None and response.status == 400
    assert page.get_by_role("link", name="Logga in").is_visible()
    _assert_accessible(page)


def test_a_manager_reassigns_a_referral_with_the_keyboard_alone(site: Site, page: Page) -> None:
    _sign_in(page, site, "/referrals/R-A2", "mgr-a")
    steps = 0
    while page.evaluate("() => document.activeElement.id") != "reassign-to":
        page.keyboard.press("Tab")
        steps += 1
        assert steps < 40, "the reassignment field is reachable with Tab"
    page.keyboard.type("cw-a1")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "reassign-reason"
    page.keyboard.type("Jämnare belastning")
    assert _tab(page) == "Spara"
    page.keyboard.press("Enter")
    page.wait_for_url(site.url + "/referrals/R-A2")
    assert page.get_by_role("status").inner_text() == "Sparat."
    assert (
        "mgr-a",
        "R-A2",
        "reassign",
        {"caseworker": "cw-a1", "reason": "Jämnare belastning"},
    ) in site.api.done
    _assert_accessible(page)
