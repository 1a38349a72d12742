"""The calendar subscription link on the rotation page in Chromium (fake staff APIs): made, its
URL shown once in a read-only field, revoked; axe-core finds nothing at each step, and the page
with the long URL reflows at 320 CSS px."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from services.web.adapters.memory import FakeStaffApi, MemorySessionStore
from services.web.dev_identity import run_in_thread
from services.web.main import create_app
from shared.clock import FixedClock
from tests.web_browser_support import assert_accessible, chromium, free_port, fresh_page, serving, sign_in
from tests.web_support import NOW, seeded_api, web_settings

STAFF = {"mgr-a": {"roles": ["manager"]}}


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[str, FakeStaffApi]]:
    with run_in_thread(STAFF) as provider:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        settings = web_settings(
            f"http://localhost:{provider.server_port}",
            redirect_url=f"{url}/auth/callback",
            upstream_token="id_token",
        )
        api, clock = seeded_api(), FixedClock(NOW)
        api.now = clock.now
        with serving(create_app(settings, api, MemorySessionStore(), clock), port):
            yield url, api


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with fresh_page(browser) as opened:
        yield opened


def test_a_manager_makes_a_link_copies_it_from_a_read_only_field_and_revokes_it(
    site: tuple[str, FakeStaffApi], page: Page
) -> None:
    url, api = site
    sign_in(page, url, "/rotation", "mgr-a")
    assert page.get_by_role("heading", name="Prenumerera på kalendern").count() == 1
    assert_accessible(page)
    page.get_by_role("button", name="Skapa prenumerationslänk").click()
    field = page.get_by_label("Prenumerationslänk")
    assert field.input_value().startswith("http://assignment.test/v1/rotation/calendar/")
    assert field.get_attribute("readonly") is not None
    assert "Prenumerera från webben" in page.locator("#feed-steps").inner_text()
    assert_accessible(page)
    page.set_viewport_size({"width": 320, "height": 640})
    assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.reload()
    assert page.get_by_label("Prenumerationslänk").count() == 0  # shown once
    revoke = page.get_by_role("button", name="Återkalla länken skapad")
    assert revoke.count() == 1
    revoke.click()
    assert "Länken är återkallad" in page.content()
    assert page.get_by_role("button", name="Återkalla länken skapad").count() == 0
    assert_accessible(page)
    assert [feed.active for _, feed in api.feeds.values()] == [False]
