"""The web app against the real services: intake and assignment as separate processes (real
Postgres and broker) that trust the dev OpenID provider's JWKS, as production trusts the
municipality's provider; Debian's Chromium signs in through that provider.

A referral from the portal reaches the assigned caseworker's queue; they read the dossier (intake
logs it) and record the decision; a caseworker of another team gets the 403 page, and intake logs
the refusal.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from playwright.sync_api import Browser, Page

from referral_router.stack import REPO, ServiceConfig, ServiceProcesses
from services.web.dev_identity import run_in_thread, staff_claims
from services.web.main import OidcSettings, SessionSettings, UpstreamSettings, WebSettings, create_app
from shared.unit_config import load_unit_config
from tests.conftest import create_database, drop_database
from tests.e2e.conftest import free_ports, without_reminders
from tests.factories import encode, submission
from tests.helpers import signed_headers
from tests.web_browser_support import assert_accessible, chromium, free_port, fresh_page, serving, sign_in

UNIT = load_unit_config(REPO / "deploy" / "config" / "unit.example.yaml")
CLIENT_ID = "referral-router-web"
STOCKHOLM = ZoneInfo("Europe/Stockholm")
SECRETS = {"key_id": "web-1", "key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "pepper": "web-pepper"}


@dataclass
class Stack:
    """Intake and assignment processes, their database, and the web app in front of them."""

    services: ServiceProcesses
    database_url: str
    web_url: str

    def query(self, schema: str, sql: str, *args: Any) -> list[asyncpg.Record]:
        async def run() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(self.database_url, server_settings={"search_path": schema})
            try:
                return list(await conn.fetch(sql, *args))
            finally:
                await conn.close()

        # Playwright's sync API keeps an event loop running on this thread: query from another.
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, run()).result()


@pytest.fixture(scope="module")
def stack(
    postgres_server: str, kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    log_dir = tmp_path_factory.mktemp("web-stack")
    name = f"web_{uuid.uuid4().hex[:10]}"
    database_url = asyncio.run(create_database(postgres_server, name))
    with run_in_thread(staff_claims(UNIT)) as provider:
        issuer = f"http://localhost:{provider.server_port}"
        config = ServiceConfig(
            database_url=database_url,
            bootstrap=kafka_broker.bootstrap,
            flavour=kafka_broker.flavour,
            ports=free_ports(),
            secrets=SECRETS,
            unit_config=without_reminders(log_dir / "unit.yaml"),
            topic_prefix=f"w{uuid.uuid4().hex[:8]}.",
            extra_env={
                "AUTH__JWKS_URL": f"{issuer}/jwks",
                "AUTH__ISSUER": issuer,
                "AUTH__AUDIENCE": CLIENT_ID,
                "OUTBOX__POLL_INTERVAL_S": "0.5",
            },
        )
        services = ServiceProcesses(config, log_dir)
        try:
            for service in ("intake", "assignment"):
                services.start(service, wait=False)
            for service in ("intake", "assignment"):
                services.wait_ready(service, 90)
            port = free_port()
            web_url = f"http://127.0.0.1:{port}"
            settings = WebSettings(
                oidc=OidcSettings(
                    issuer=issuer,
                    client_id=CLIENT_ID,
                    client_secret="dev-web-secret",  # type: ignore[arg-type]
                    redirect_url=f"{web_url}/auth/callback",
                    upstream_token="id_token",
                ),
                upstream=UpstreamSettings(
                    assignment_url=services.url("assignment"), intake_url=services.url("intake")
                ),
                session=SessionSettings(https_only=False),
            )
            with serving(create_app(settings), port):
                yield Stack(services, database_url, web_url)
        finally:
            services.stop_all()
            asyncio.run(drop_database(postgres_server, name))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def _submit(stack: Stack) -> str:
    raw = encode(submission())
    response = httpx.post(
        stack.services.url("intake", "/v1/referrals"), content=raw, headers=signed_headers(raw), timeout=10
    )
    assert response.status_code == 202, response.text
    referral_id: str = response.json()["referrals"][0]["referral_id"]
    return referral_id


def _assigned(stack: Stack, referral_id: str) -> tuple[str, str]:
    """(team, caseworker) once assignment has assigned the referral."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = stack.query(
            "assignment", "SELECT team, caseworker FROM assignments WHERE referral_id = $1", referral_id
        )
        if rows:
            return rows[0]["team"], rows[0]["caseworker"]
        time.sleep(0.2)
    raise AssertionError("the referral was not assigned within 30 s")


def _shot(page: Page, name: str) -> None:
    """With WEB_SCREENSHOTS=<dir>, keep a screenshot of the page (docs/web/ holds the committed ones)."""
    target = os.environ.get("WEB_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=True)


def _log(stack: Stack, referral_id: str) -> list[tuple[str, str]]:
    rows = stack.query(
        "intake", "SELECT staff, action FROM access_log WHERE referral_id = $1 ORDER BY seq", referral_id
    )
    return [(r["staff"], r["action"]) for r in rows]


def test_the_assigned_caseworker_reads_the_dossier_and_decides_and_another_team_is_refused(
    stack: Stack, browser: Browser
) -> None:
    referral_id = _submit(stack)
    team, caseworker = _assigned(stack, referral_id)

    with fresh_page(browser) as page:
        sign_in(page, stack.web_url, "/referrals", caseworker)
        page.get_by_role("link", name=referral_id).wait_for()
        assert_accessible(page)
        _shot(page, "my-referrals")
        page.get_by_role("link", name=referral_id).click()
        page.get_by_role("link", name="Läs anmälan").click()
        page.get_by_role("note").wait_for()
        assert "Din läsning loggas" in page.get_by_role("note").inner_text()
        assert referral_id not in page.title()
        assert_accessible(page)
        _shot(page, "dossier")
        assert (caseworker, "read") in _log(stack, referral_id)

        page.goto(f"{stack.web_url}/referrals/{referral_id}")
        page.get_by_role("radio", name="Inleda utredning", exact=True).check()
        page.get_by_role("group", name="Beslut").locator("xpath=..").get_by_role(
            "button", name="Spara"
        ).click()
        page.get_by_role("status").wait_for()
        assert page.get_by_role("status").inner_text() == "Sparat."
        assert "Under utredning" in page.content()
        _shot(page, "referral")

    other = next(m.id for t in UNIT.teams if t.id != team for m in t.members)
    with fresh_page(browser) as page:
        sign_in(page, stack.web_url, f"/referrals/{referral_id}/dossier", other)
        assert page.get_by_role("heading", level=1).inner_text() == "Du har inte behörighet"
        assert_accessible(page)
        _shot(page, "forbidden")
        assert (other, "denied") in _log(stack, referral_id)


def test_intake_registers_and_the_manager_reassigns_and_the_next_referral_avoids_the_absent_caseworker(
    stack: Stack, browser: Browser
) -> None:
    referral_id = _submit(stack)
    team_id, caseworker = _assigned(stack, referral_id)
    team = next(t for t in UNIT.teams if t.id == team_id)

    with fresh_page(browser) as page:
        sign_in(page, stack.web_url, "/incoming", "in-1")
        assert_accessible(page)
        _shot(page, "incoming")
        page.get_by_role("link", name=referral_id).click()
        page.get_by_role("button", name="Kvittera").click()
        assert page.get_by_role("status").inner_text() == "Sparat."
        assert_accessible(page)  # the referral page as intake, with the case-number form
        page.get_by_label("Diarienummer i verksamhetssystemet").fill("IFO-2026-4711")
        page.get_by_label("Diarienummer i verksamhetssystemet").press("Enter")
        assert page.get_by_role("status").inner_text() == "Sparat."
    rows = stack.query(
        "intake",
        "SELECT system_case_number, registered_by FROM registrations WHERE referral_id = $1",
        referral_id,
    )
    assert [(r["system_case_number"], r["registered_by"]) for r in rows] == [("IFO-2026-4711", "in-1")]

    today = datetime.now(STOCKHOLM).date()
    colleague = next(m.id for m in team.members if m.id != caseworker)
    with fresh_page(browser) as page:
        sign_in(page, stack.web_url, "/team", team.manager.id)
        page.get_by_label("Person").select_option(caseworker)
        page.get_by_label("Första dag").fill(today.isoformat())
        page.get_by_label("Sista dag").fill((today + timedelta(days=7)).isoformat())
        page.get_by_label("Typ").select_option("sick")
        page.get_by_role("button", name="Spara").click()
        assert page.get_by_role("status").inner_text() == "Sparat."
        assert f"Sjuk {today.isoformat()}" in page.content()
        assert_accessible(page)
        _shot(page, "team-board")

        page.goto(f"{stack.web_url}/referrals/{referral_id}")
        page.get_by_role("textbox", name="Handläggare").fill(colleague)
        page.get_by_label("Skäl").fill("Handläggaren är sjuk i en vecka.")
        page.get_by_role("group", name="Flytta till annan handläggare").locator("xpath=..").get_by_role(
            "button", name="Spara"
        ).click()
        assert page.get_by_role("status").inner_text() == "Sparat."
        assert_accessible(page)  # the referral page as manager, with the reassign form
    assert _assigned(stack, referral_id) == (team_id, colleague)

    second = _submit(stack)
    second_team, second_caseworker = _assigned(stack, second)
    assert second_team == team_id, "both referrals arrived in the same rotation period"
    assert second_caseworker != caseworker
