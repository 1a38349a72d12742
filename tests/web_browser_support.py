"""Helpers of the web app's browser tests: the app on a free port in a thread, Debian's Chromium,
pages that collect CSP violations, sign-in through the dev provider's form, and axe-core."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from axe_playwright_python.sync_playwright import Axe
from fastapi import FastAPI
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")


def free_port() -> int:
    """A port of 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: FastAPI, port: int) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1:`port` in a thread (lifespan included)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the web app did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium (`apt-get install chromium`), never a browser Playwright downloads."""
    assert CHROMIUM.exists(), "apt-get install chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def fresh_page(browser: Browser) -> Iterator[Page]:
    """A page in a context of its own (no cookies shared); fails if the page broke the CSP."""
    context = browser.new_context(locale="sv-SE", timezone_id="Europe/Stockholm")
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: _keep_csp_errors(m, problems))
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        yield page
    finally:
        context.close()
    assert problems == [], "no CSP violation or script error in the browser"


def _keep_csp_errors(message: ConsoleMessage, problems: list[str]) -> None:
    # Not every console error: the provider's form asks a CDN for its stylesheet (no network
    # here) and the 403 page is a 403 on purpose.
    if "Content Security Policy" in message.text:
        problems.append(message.text)


def sign_in(page: Page, site_url: str, path: str, staff_id: str) -> None:
    """Open `path` signed out, press the staff id's button on the provider's form, come back."""
    page.goto(site_url + path)
    page.get_by_role("button", name=staff_id, exact=True).click()
    page.wait_for_url(site_url + path)


def assert_accessible(page: Page) -> None:
    """axe-core finds no violation on the page as it is now."""
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
