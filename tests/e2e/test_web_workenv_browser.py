"""Issue 22's pages in a real browser (Debian's Chromium via Playwright, the dev OpenID provider,
the in-memory fake staff API behind the real web app): "I am at my limit" and the manager's answer,
meeting times and consultations (a partner sees only that page), threats and violence, the safety
flag and the outcome report. Every form posts with its CSRF token; axe-core finds nothing on each
new page."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page

from services.web.adapters.memory import FakeStaffApi, MemorySessionStore
from services.web.dev_identity import run_in_thread
from services.web.domain.model import Caller, User
from services.web.main import create_app
from shared.clock import FixedClock
from tests.web_browser_support import assert_accessible, chromium, free_port, fresh_page, serving, sign_in
from tests.web_support import NOW, seed_workenv, seeded_api, web_settings

T = TypeVar("T")
STAFF: dict[str, dict[str, object]] = {
    "cw-a1": {"roles": ["caseworker"]},
    "cw-a2": {"roles": ["caseworker"]},
    "mgr-a": {"roles": ["manager"]},
    "head": {"roles": ["head_of_unit"]},
    "partner-1": {"roles": ["partner"]},
}


@dataclass
class Site:
    """The running web app and the fake it talks to."""

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
        api, clock = seed_workenv(seeded_api()), FixedClock(NOW)
        api.now = clock.now
        with serving(create_app(settings, api, MemorySessionStore(), clock), port):
            yield Site(url, api)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with fresh_page(browser) as opened:
        yield opened


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a call on the fake outside Playwright's own event loop (a thread of its own)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _shot(page: Page, name: str) -> None:
    """With WEB_SCREENSHOTS=<dir>, keep a screenshot of the page (docs/web/ holds the committed ones)."""
    target = os.environ.get("WEB_SCREENSHOTS")
    if target:
        page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=True)


def _as(staff_id: str, *roles: str) -> Caller:
    return Caller(User(staff_id, frozenset(roles)), "t")


def test_a_caseworker_says_they_are_at_their_limit_and_sees_it_in_their_history(
    site: Site, page: Page
) -> None:
    sign_in(page, site.url, "/", "cw-a1")
    assert page.get_by_role("heading", name="Jag är vid min gräns").count() == 1
    assert "Skriv inga namn" in page.locator("#flag-note-hint").inner_text()
    assert_accessible(page)
    page.get_by_label("Kort meddelande till din chef (frivilligt)").fill("Tre tunga utredningar samtidigt")
    page.get_by_role("button", name="Jag är vid min gräns").click()  # without the confirmation: stopped
    assert not site.api.flags
    page.get_by_label("Ja, jag vill säga till min chef").check()
    page.get_by_role("button", name="Jag är vid min gräns").click()
    page.wait_for_url(site.url + "/#flag-heading")
    assert "Din chef har fått besked" in page.locator(".flash").inner_text()
    assert page.get_by_role("cell", name="Väntar på svar").count() == 1
    assert page.get_by_role("button", name="Jag är vid min gräns").count() == 0  # one open flag at a time
    assert_accessible(page)
    _shot(page, "at-my-limit")
    [flag] = [f for f in site.api.flags.values() if f.staff == "cw-a1"]
    assert flag.note == "Tre tunga utredningar samtidigt"


def test_the_manager_sees_the_badge_and_relieves_the_person_with_a_comment(site: Site, page: Page) -> None:
    raised = _run(site.api.raise_overload_flag(_as("cw-a2", "caseworker"), "cw-a2", None))
    sign_in(page, site.url, "/team", "mgr-a")
    badge = page.get_by_role("link", name="Vid sin gräns")
    assert badge.count() >= 1
    assert_accessible(page)
    page.goto(f"{site.url}/overload-flags/{raised.flag_id}")
    assert page.get_by_role("checkbox", name="R-A2").count() == 1  # the person's open referral
    assert_accessible(page)
    _shot(page, "overload-flag")
    page.get_by_role("radio", name="Avlasta en tid: lägre kapacitet").check()
    page.get_by_label("Kommentar").fill("Vi ses i morgon och går igenom ärendena")
    page.get_by_role("button", name="Svara").click()  # no capacity chosen: the error sits by its field
    assert page.locator("#capacity-error").inner_text() == "Välj kapacitet."
    assert_accessible(page)
    page.get_by_role("radio", name="Avlasta en tid: lägre kapacitet").check()
    page.get_by_label("50 %").check()
    page.get_by_label("Till och med (Avlasta en tid: lägre kapacitet)").fill("2026-12-18")
    page.get_by_label("Kommentar").fill("Vi ses i morgon och går igenom ärendena")
    page.get_by_role("button", name="Svara").click()
    assert "Avlastad: 50 % av kapaciteten till 2026-12-18" in page.locator("dl").inner_text()
    assert_accessible(page)
    answered = site.api.flags[raised.flag_id]
    assert (answered.action, answered.capacity_factor) == ("relieve", 0.5)
    page.goto(site.url + "/overload-flags")
    assert page.get_by_role("heading", level=1).inner_text() == "Flaggor om hög belastning"
    assert page.get_by_role("cell", name="0 min").count() >= 1  # the fake's clock stands still
    assert_accessible(page)


def test_a_caseworker_books_a_consultation_sees_the_confirmation_and_cancels_it(
    site: Site, page: Page
) -> None:
    sign_in(page, site.url, "/consultations", "cw-a1")
    assert page.get_by_role("heading", level=1).inner_text() == "Mötestider och konsultationer"
    assert page.get_by_text("Ledig").count() >= 4
    assert_accessible(page)
    page.get_by_label("Vad vill du ta upp?").fill("Samverkan kring ett nytt ärende")
    page.get_by_role("button", name="Boka").click()
    confirmation = page.get_by_role("status")
    assert "Din konsultation är bokad" in confirmation.inner_text()
    assert "Team team-a, 2026-12-08 13:00–13:30" in confirmation.inner_text()
    assert "kalenderinbjudan" in confirmation.inner_text()
    assert page.get_by_text("Bokad av dig").count() == 1
    assert_accessible(page)
    _shot(page, "consultations")
    page.get_by_role("button", name="Avboka 2026-12-08 13:00–13:30").click()
    assert "Konsultationen är avbokad" in page.locator(".flash").inner_text()
    assert page.get_by_role("cell", name="Avbokad").count() == 1
    assert_accessible(page)


def test_a_partner_sees_only_the_consultations_page_and_books_there(site: Site, page: Page) -> None:
    page.goto(site.url + "/")
    page.get_by_role("button", name="partner-1", exact=True).click()
    page.wait_for_url(site.url + "/consultations")
    assert page.get_by_role("navigation").get_by_role("link").all_inner_texts() == [
        "Mötestider och konsultationer"
    ]
    assert_accessible(page)
    page.get_by_label("Vad vill du ta upp?").fill("Fråga om samarbete")
    page.get_by_label("Ärendereferens (frivilligt)").fill("R-B1")
    page.get_by_role("button", name="Boka").click()
    assert "Team team-b" in page.get_by_role("status").inner_text()  # the referral's team
    for path in (
        "/team",
        "/referrals",
        "/referrals/R-A1",
        "/incidents",
        "/overload-flags",
        "/outcome-report",
    ):
        page.goto(site.url + path)
        assert page.get_by_role("heading", level=1).inner_text() == "Du har inte behörighet", path
    assert_accessible(page)


def test_staff_report_an_incident_and_the_manager_sees_the_quarter(site: Site, page: Page) -> None:
    sign_in(page, site.url, "/incidents", "cw-a1")
    assert page.locator("textarea").count() == 0  # no free text anywhere on the form
    assert_accessible(page)
    page.get_by_label("Datum").fill("2026-12-03")
    page.get_by_label("Hot", exact=True).check()
    page.get_by_label("Hur?").select_option("home_visit")
    page.get_by_role("button", name="Spara").click()
    assert "Händelsen är rapporterad" in page.locator(".flash").inner_text()
    assert (
        page.get_by_role("heading", name="Sammanställning per kvartal 2026Q4").count() == 0
    )  # staff: form only
    with fresh_page(page.context.browser) as manager:  # type: ignore[arg-type]
        sign_in(manager, site.url, "/incidents", "mgr-a")
        assert manager.get_by_role("heading", name="Sammanställning per kvartal 2026Q4").count() == 1
        assert manager.get_by_role("row", name="team-a 1 0 0 1").count() == 1
        assert manager.get_by_role("cell", name="Vid hembesök").count() >= 1
        assert_accessible(manager)
        _shot(manager, "incidents")


def test_the_safety_flag_shows_in_queues_and_dossier_and_a_refusal_is_said_plainly(
    site: Site, page: Page
) -> None:
    sign_in(page, site.url, "/referrals", "cw-a1")
    assert page.get_by_text("Två personal vid hembesök").count() == 1
    page.goto(site.url + "/referrals/R-A1/dossier")
    assert page.locator("#safety-flag").inner_text() == "Två personal vid hembesök"
    page.goto(site.url + "/referrals/R-A1")
    assert page.locator("#safety-flag").inner_text() == "Två personal vid hembesök"
    assert_accessible(page)
    page.get_by_role("button", name="Ta bort markeringen").click()
    assert page.locator("#safety-flag").count() == 0
    page.get_by_role("button", name="Markera: två personal vid hembesök").click()
    assert page.locator("#safety-flag").count() == 1
    with fresh_page(page.context.browser) as manager:  # type: ignore[arg-type]
        sign_in(manager, site.url, "/referrals/R-B1", "mgr-a")  # another team's referral
        manager.get_by_role("button", name="Markera: två personal vid hembesök").click()
        assert (
            "Du har inte behörighet att ändra säkerhetsmarkeringen" in manager.locator(".flash").inner_text()
        )
        assert_accessible(manager)
    assert site.api.queue["R-B1"].safety_flag is None


def test_the_head_of_unit_reads_the_outcome_report_with_charts_and_tables(site: Site, page: Page) -> None:
    sign_in(page, site.url, "/outcome-report", "head")
    assert page.locator("svg[role=img]").count() == 2
    assert page.get_by_role("img", name="Utredningstid, median: Stapeldiagram per månad").count() == 1
    assert_accessible(page)
    page.get_by_label("Ändringsdatum (frivilligt)").fill("2026-07-01")
    page.get_by_role("button", name="Visa rapporten").click()
    page.wait_for_url("**/outcome-report?*change_date=2026-07-01")
    assert page.locator("svg line.marker").count() == 2
    assert page.locator("rect.bar.after").count() == 12  # July to December, two measures
    assert page.get_by_role("row", name="110 90 100").count() == 1  # before, after, whole
    assert_accessible(page)
    _shot(page, "outcome-report")
