"""The web app on the dev stack: `referral-router dev` started as a developer starts it (every
part its own process on free ports: Postgres, Tansu, intake, assignment, notifications, metrics,
the mail and Teams sinks, the dev OpenID provider and the web app), the services trusting the
provider's JWKS as production trusts the municipality's provider. Debian's Chromium signs in
through the provider's form as a caseworker, intake, a manager and the head of unit.

A referral from the portal reaches the assigned caseworker's queue; they read the dossier (intake
logs it) and record the decision; a caseworker of another team gets the 403 page, and intake logs
the refusal. Intake acknowledges and registers; the manager adds an absence and reassigns; the
next referral avoids the absent caseworker. The link in the caseworker's email and in the team's
Teams card opens the referral's page, after sign-in. axe-core on every page visited.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import psutil
import pytest
from playwright.sync_api import Browser, Page

from referral_router.portal_simulator import post_submission
from referral_router.stack import REPO, Ports
from shared.unit_config import load_unit_config
from tests.conftest import KAFKA_FLAVOUR
from tests.factories import submission
from tests.web_browser_support import assert_accessible, chromium, free_port, fresh_page, sign_in

UNIT = load_unit_config(REPO / "deploy" / "config" / "unit.example.yaml")
STOCKHOLM = ZoneInfo("Europe/Stockholm")
PARTS = tuple(Ports.__dataclass_fields__)


@dataclass
class Stack:
    """The dev stack's ports, its logs and its database (`referral_router` on its own Postgres)."""

    ports: dict[str, int]
    logs: Path
    submitted: list[dict[str, Any]] = field(default_factory=list)

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['web']}"

    def url(self, part: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[part]}{path}"

    def query(self, schema: str, sql: str, *args: Any) -> list[asyncpg.Record]:
        async def run() -> list[asyncpg.Record]:
            url = f"postgresql://postgres@127.0.0.1:{self.ports['postgres']}/referral_router"
            conn = await asyncpg.connect(url, server_settings={"search_path": schema})
            try:
                return list(await conn.fetch(sql, *args))
            finally:
                await conn.close()

        # Playwright's sync API keeps an event loop running on this thread: query from another.
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, run()).result()


def _distinct_free_ports() -> dict[str, int]:
    ports: dict[str, int] = {}
    while len(ports) < len(PARTS):
        port = free_port()
        if port not in ports.values():
            ports[PARTS[len(ports)]] = port
    return ports


def _wait_for_banner(output: Path, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = output.read_text("utf-8", errors="replace") if output.exists() else ""
        if "portal client" in text:
            return
        assert proc.poll() is None, f"referral-router dev exited:\n{text[-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"the dev stack did not start within {timeout_s} s")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("web-dev-stack")
    ports = _distinct_free_ports()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA__", "DATABASE__"))}
    env.update({f"DEV_{part.upper()}_PORT": str(port) for part, port in ports.items()})
    env["DEV_STATE_DIR"] = str(state / "state")
    output = state / "dev.out"
    argv = [sys.executable, "-m", "referral_router.cli", "dev", "--no-simulator", "--plain"]
    if KAFKA_FLAVOUR == "apache":
        # `make test KAFKA=apache`: the dev stack on the session's Apache Kafka, as
        # `KAFKA__BOOTSTRAP_SERVERS=… referral-router dev --kafka apache` runs it.
        broker = request.getfixturevalue("kafka_broker")
        env["KAFKA__BOOTSTRAP_SERVERS"] = broker.bootstrap
        env["KAFKA__TOPIC_PREFIX"] = f"webdev{uuid.uuid4().hex[:8]}."
        argv += ["--kafka", "apache"]
    with output.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    started: list[psutil.Process] = []
    try:
        _wait_for_banner(output, proc, timeout_s=180)
        started = psutil.Process(proc.pid).children(recursive=True)
        yield Stack(ports, state / "state" / "logs")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=90) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for process in started:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def _submit(stack: Stack) -> str:
    """A report through the portal's signed API, as the dev portal (the simulator's client)."""

    body = submission()
    stack.submitted.append(body)

    async def post() -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as client:
            return await post_submission(client, stack.url("intake", "/v1/referrals"), body)

    with ThreadPoolExecutor(1) as pool:
        response = pool.submit(asyncio.run, post()).result()
    assert response.status_code == 202, response.text
    referral_id: str = response.json()["referrals"][0]["referral_id"]
    return referral_id


def _assigned(stack: Stack, referral_id: str) -> tuple[str, str]:
    """(team, caseworker) once assignment has assigned the referral."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = stack.query(
            "assignment", "SELECT team, caseworker FROM assignments WHERE referral_id = $1", referral_id
        )
        if rows:
            return rows[0]["team"], rows[0]["caseworker"]
        time.sleep(0.2)
    raise AssertionError("the referral was not assigned within 60 s")


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
        page.get_by_role("link", name="Läs anmälan").wait_for()
        assert_accessible(page)  # the referral page as its caseworker, before the decision
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
        assert_accessible(page)
        _shot(page, "referral")

    other = next(m.id for t in UNIT.teams if t.id != team for m in t.members)
    with fresh_page(browser) as page:
        sign_in(page, stack.web_url, f"/referrals/{referral_id}/dossier", other)
        assert page.get_by_role("heading", level=1).inner_text() == "Du har inte behörighet"
        assert_accessible(page)
        _shot(page, "forbidden")
        assert (other, "denied") in _log(stack, referral_id)

    with fresh_page(browser) as page:
        sign_in(page, stack.web_url, "/overview", UNIT.head_of_unit.id)
        assert page.get_by_role("heading", level=1).is_visible()
        assert_accessible(page)
        _shot(page, "overview")
        page.goto(f"{stack.web_url}/")
        page.get_by_role("main").wait_for()
        assert_accessible(page)
        _shot(page, "start-head")


def test_intake_registers_and_the_manager_reassigns_and_the_next_referral_avoids_the_absent_caseworker(
    stack: Stack, browser: Browser
) -> None:
    referral_id = _submit(stack)
    team_id, caseworker = _assigned(stack, referral_id)
    team = next(t for t in UNIT.teams if t.id == team_id)
    candidates_before = _candidates_besides_the_chosen(stack, referral_id)  # before the reassignment

    with fresh_page(browser) as page:
        sign_in(page, stack.web_url, "/incoming", "in-1")
        assert_accessible(page)
        _shot(page, "incoming")
        page.get_by_role("link", name=referral_id).click()
        page.get_by_role("button", name="Kvittera").wait_for()
        assert_accessible(page)  # the referral page as intake, before the acknowledgement
        page.get_by_role("button", name="Kvittera").click()
        assert page.get_by_role("status").inner_text() == "Sparat."
        assert_accessible(page)  # the referral page as intake, with the case-number form
        page.get_by_label("Diarienummer i verksamhetssystemet").fill("IFO-2026-4711")
        page.get_by_label("Diarienummer i verksamhetssystemet").press("Enter")
        assert page.get_by_role("status").inner_text() == "Sparat."
        assert_accessible(page)  # the referral page as intake, once registered
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
        assert_accessible(page)  # the team board before the absence
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
        assert_accessible(page)  # the referral page as manager, before the reassignment
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
    # Not by chance: the selection had one candidate fewer than for the first referral, in the
    # same team and period; the absence is the only change.
    assert _candidates_besides_the_chosen(stack, second) == candidates_before - 1


def _candidates_besides_the_chosen(stack: Stack, referral_id: str) -> int:
    """From assignment's explanation: "most spare capacity …; N others at …"."""
    rows = stack.query(
        "assignment", "SELECT explanation FROM assignments WHERE referral_id = $1", referral_id
    )
    found = re.search(r"; (\d+) others at", rows[0]["explanation"])
    assert found, rows[0]["explanation"]
    return int(found.group(1))


LINK = re.compile(r"http://127\.0\.0\.1:\d+/referrals/[A-Za-z0-9_%.-]+")


def _links_to(stack: Stack, part: str, query: str, referral_id: str) -> list[str]:
    """The links to the referral in what the mail or Teams sink received, once something came."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        received = httpx.get(stack.url(part, f"/messages{query}"), timeout=5).json()
        links = [link for link in LINK.findall(str(received)) if link.endswith(referral_id)]
        if links:
            return links
        time.sleep(0.5)
    raise AssertionError(f"no link to the referral reached the {part} within 60 s")


def test_the_links_in_the_caseworker_s_email_and_the_team_s_card_open_the_referral_page_after_sign_in(
    stack: Stack, browser: Browser
) -> None:
    referral_id = _submit(stack)
    team_id, caseworker = _assigned(stack, referral_id)
    team = next(t for t in UNIT.teams if t.id == team_id)
    page_url = f"{stack.web_url}/referrals/{referral_id}"

    person = next(p for p in UNIT.all_people() if p.id == caseworker)
    emailed = _links_to(stack, "smtp_http", f"?to={person.email}", referral_id)
    carded = _links_to(stack, "teams", f"?team={team_id}", referral_id)
    assert set(emailed) == {page_url}
    assert set(carded) == {page_url}

    for link, staff_id in ((emailed[0], caseworker), (carded[0], team.manager.id)):
        with fresh_page(browser) as page:
            page.goto(link)  # signed out: the provider's form first
            page.get_by_role("button", name=staff_id, exact=True).wait_for()
            _shot(page, "dev-sign-in")  # the provider's page, not ours: no axe (a CDN stylesheet)
            page.get_by_role("button", name=staff_id, exact=True).click()
            page.wait_for_url(link)  # and back to the referral's page
            page.get_by_role("heading", level=1).wait_for()
            assert referral_id in page.content()
            assert_accessible(page)


def test_a_manager_s_calendar_link_is_served_by_assignment_without_sign_in_until_revoked(
    stack: Stack, browser: Browser
) -> None:
    manager = UNIT.teams[0].manager.id
    with fresh_page(browser) as page:
        sign_in(page, stack.web_url, "/rotation", manager)
        page.get_by_role("button", name="Skapa prenumerationslänk").click()
        url = page.get_by_label("Prenumerationslänk").input_value()
        assert_accessible(page)  # the rotation page with the new link shown once
        _shot(page, "calendar-link")
        assert url.startswith(stack.url("assignment", "/v1/rotation/calendar/"))  # PUBLIC_URL
        feed = httpx.get(url, timeout=10)  # no bearer header, as Outlook subscribes
        assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
        assert feed.headers["cache-control"] == "private" and "BEGIN:VEVENT" in feed.text
        assert any(f"SUMMARY:{t.name}" in feed.text or t.name in feed.text for t in UNIT.teams)
        token = url.rsplit("/", 1)[1].removesuffix(".ics")
        rows = stack.query("assignment", "SELECT * FROM calendar_feeds WHERE staff_id = $1", manager)
        assert len(rows) == 1 and rows[0]["last_used_at"] is not None
        assert all(token not in str(value) for value in rows[0].values())  # only its hash is kept
        page.reload()
        page.get_by_role("button", name="Återkalla länken skapad").click()
        assert "Länken är återkallad" in page.get_by_role("status").inner_text()
        assert_accessible(page)
    assert httpx.get(url, timeout=10).status_code == 404
    assert token not in (stack.logs / "assignment.log").read_text("utf-8")


def test_the_web_app_and_the_dev_provider_logged_no_client_data_of_what_the_walk_showed(stack: Stack) -> None:
    """After the walk (dossiers read, referral pages, emails' links): none of the children's,
    guardians' or reporters' details, nor the concern, in the logs of the two new processes."""
    assert stack.submitted, "runs after the walk above, in the same module"
    secrets: set[str] = set()
    for body in stack.submitted:
        people = [*body["children"], *body["guardians"]]
        secrets |= {p["name"] for p in people} | {
            p["personal_number"] for p in people if p["personal_number"]
        }
        secrets |= {body["reporter"][k] for k in ("name", "phone", "email") if body["reporter"].get(k)}
        secrets.add(body["concern"]["description"])
    for name in ("web", "oidc"):
        log = (stack.logs / f"{name}.log").read_text("utf-8")
        assert log, f"{name}.log is empty: nothing was checked"
        assert [s for s in secrets if s in log] == [], name
