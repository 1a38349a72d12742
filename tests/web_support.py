"""Helpers of the web app's tests: a seeded in-memory staff API, a fixed clock, signed-in sessions."""

from __future__ import annotations

import dataclasses
import random
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from services.web.adapters.memory import FakeStaffApi, MemorySessionStore
from services.web.domain.model import Deadline, OnDuty, QueueItem, User, WorkloadRow
from services.web.main import OidcSettings, SessionSettings, WebSettings, create_app
from services.web.ports import Session
from services.web.security import COOKIE
from shared.clock import FixedClock
from tests.factories import submission

# Monday 7 December 2026, 10:00 in Stockholm (CET, UTC+1).
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def queue_item(
    referral_id: str, team: str, caseworker: str, *, due_in: timedelta, state: str = "ok", **kw: Any
) -> QueueItem:
    """A referral whose protection assessment is due `due_in` from NOW."""
    due = NOW + due_in
    values: dict[str, Any] = {
        "referral_id": referral_id,
        "team": team,
        "caseworker": caseworker,
        "status": "assigned",
        "categories": ("neglect",),
        "acute": False,
        "received_at": NOW - timedelta(hours=3),
        "deadlines": (Deadline("protection_assessment", due, None, state),),  # type: ignore[arg-type]
        "deadline_state": state,
        "next_due_at": due,
        "registered": False,
    }
    return QueueItem(**(values | kw))


def dossier_of(referral_id: str, seed: int) -> dict[str, Any]:
    """A dossier as intake returns it, from a synthetic submission (invented names and numbers)."""
    form = submission(random.Random(seed))
    return {
        "referral_id": referral_id,
        "child": form["children"][0],
        "guardians": form.get("guardians", []),
        "reporter": form["reporter"],
        "concern": form["concern"],
    }


def seeded_api() -> FakeStaffApi:
    """Two referrals of team-a (cw-a1, cw-a2) and one of team-b (cw-b1), workloads, the duty."""
    items = [
        queue_item("R-A1", "team-a", "cw-a1", due_in=timedelta(days=2)),
        queue_item("R-A2", "team-a", "cw-a2", due_in=-timedelta(hours=5), state="breached"),
        queue_item("R-B1", "team-b", "cw-b1", due_in=timedelta(hours=3), state="approaching"),
    ]
    return FakeStaffApi(
        queue={i.referral_id: i for i in items},
        dossiers={i.referral_id: dossier_of(i.referral_id, n) for n, i in enumerate(items)},
        workloads=[
            WorkloadRow("cw-a1", "team-a", 1, 4.5, 6.0, mentees=("cw-a2",)),
            WorkloadRow("cw-a2", "team-a", 1, 7.0, 6.0, mentor="cw-a1", new_hire=True),
            WorkloadRow("cw-b1", "team-b", 1, 2.0, 6.0),
        ],
        duties=[
            OnDuty("team-a", NOW - timedelta(days=3), NOW + timedelta(days=11), "rotation"),
            OnDuty("team-b", NOW + timedelta(days=11), NOW + timedelta(days=25), "rotation"),
        ],
        teams={"mgr-a": "team-a", "mgr-b": "team-b"},
    )


def web_settings(issuer: str = "http://127.0.0.1:1", https_only: bool = False, **oidc: Any) -> WebSettings:
    """Settings for a test app."""
    return WebSettings(
        oidc=OidcSettings(issuer=issuer, client_id="web-test", client_secret="s", **oidc),  # type: ignore[arg-type]
        session=SessionSettings(https_only=https_only),
    )


class WebApp:
    """A web app over the fake API, with a fixed clock and a session store the test can seed."""

    def __init__(
        self, api: FakeStaffApi | None = None, https_only: bool = False, settings: WebSettings | None = None
    ) -> None:
        self.api = api or seeded_api()
        self.clock = FixedClock(NOW)
        self.sessions = MemorySessionStore()
        settings = settings or web_settings(https_only=https_only)
        self.app = create_app(settings, self.api, self.sessions, self.clock)
        base = "https://testserver" if https_only else "http://testserver"
        self.client = TestClient(self.app, base_url=base, follow_redirects=False)

    def sign_in(self, staff_id: str, *roles: str) -> Session:
        """A signed-in session for `staff_id`, its cookie set on the client."""
        session = Session(
            session_id=secrets.token_urlsafe(16),
            csrf_token=secrets.token_urlsafe(16),
            last_seen=self.clock.now(),
            user=User(staff_id, frozenset(roles)),
            token=f"token-of-{staff_id}",
        )
        self.sessions.sessions[session.session_id] = session
        self.client.cookies.set(COOKIE, session.session_id)
        return session


def seed_workenv(api: FakeStaffApi) -> FakeStaffApi:
    """Issue 22's fixtures on the fake: meeting slots of the coming weeks (consultations with free
    and booked times, a handover), a safety flag on R-A1 and a two-measure outcome report."""
    from services.web.domain.model import Booking, Measure, MeetingSlot, MonthValue, OutcomeReport

    tuesday = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)  # 13:00 in Stockholm
    slots = []
    for week in range(3):
        start = tuesday + timedelta(weeks=week)
        bookings = tuple(
            Booking(start + timedelta(minutes=30 * n), start + timedelta(minutes=30 * (n + 1)), False)
            for n in range(4)
        )
        slots.append(
            MeetingSlot(
                "open-care",
                "consultation",
                "Öppenvården",
                "Öppenvården",
                (),
                start,
                start + timedelta(hours=2),
                bookings,
            )
        )
    handover = datetime(2026, 12, 18, 7, 0, tzinfo=UTC)
    slots.append(
        MeetingSlot("handover", "handover", "Överlämning", None, (), handover, handover + timedelta(hours=1))
    )
    api.slots = slots
    api.queue["R-A1"] = dataclasses.replace(api.queue["R-A1"], safety_flag="two_staff_home_visits")
    months = [f"2026-{m:02d}" for m in range(1, 13)]
    api.report = OutcomeReport(
        date(2026, 1, 1),
        date(2026, 12, 31),
        None,
        NOW,
        (
            Measure(
                "investigation_lead_time_median",
                "Utredningstid, median",
                "Investigation lead time, median",
                "days",
                (
                    *(MonthValue(m, None, 100.0 - 3 * i) for i, m in enumerate(months)),
                    MonthValue("2026-01", "team-a", 98.0),
                ),
                110.0,
                90.0,
                100.0,
            ),
            Measure(
                "preliminary_within_14_days",
                "Förhandsbedömning inom 14 dagar",
                "Preliminary assessments within 14 days",
                "share",
                tuple(MonthValue(m, None, None if i == 0 else 0.8 + i / 100) for i, m in enumerate(months)),
                0.82,
                0.9,
                0.86,
            ),
        ),
    )
    return api
