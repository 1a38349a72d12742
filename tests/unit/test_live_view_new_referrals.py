"""The live view's "new referrals now go to" line: computed by assignment's own rule
(`Unit.assignment_moment`), so on a weekend it names Monday's team, not the team on duty."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console

from referral_router.live_data import NewReferrals, OnDuty, Snapshot, Unit, new_referral_route
from referral_router.live_view import plain_line, render
from services.assignment.domain.rotation import on_duty_team
from services.assignment.unit_from_config import unit_from_config
from shared.unit_config import load_unit_config

TZ = ZoneInfo("Europe/Stockholm")
EXAMPLE = unit_from_config(load_unit_config(Path("deploy/config/unit.example.yaml")))
SATURDAY_EVENING = datetime(2026, 12, 5, 19, 30, tzinfo=TZ)  # Team C's last weekend on duty
MONDAY_0800 = datetime(2026, 12, 7, 8, 0, tzinfo=TZ)  # the handover to Team A


def team_at(at: datetime) -> str:
    return on_duty_team(EXAMPLE.plan, at, EXAMPLE.tz).team


def test_on_a_saturday_evening_new_referrals_go_to_the_team_on_duty_at_monday_office_start():
    route = new_referral_route(EXAMPLE, SATURDAY_EVENING)
    assert route.instant == MONDAY_0800
    assert (
        route.why
        == "not an office day (weekend or public holiday); next office hours begin Monday 07 Dec 08:00"
    )
    assert team_at(SATURDAY_EVENING) == "team-c" and team_at(route.instant) == "team-a"


def test_on_a_weekday_in_office_hours_new_referrals_go_to_the_team_on_duty_now():
    wednesday = datetime(2026, 12, 2, 10, 0, tzinfo=TZ)
    route = new_referral_route(EXAMPLE, wednesday)
    assert route.instant == wednesday and route.why == "within office hours"
    assert team_at(route.instant) == team_at(wednesday) == "team-c"


def test_on_a_weekday_evening_they_wait_for_the_next_morning():
    route = new_referral_route(EXAMPLE, datetime(2026, 12, 2, 18, 0, tzinfo=TZ))
    assert route.instant == datetime(2026, 12, 3, 8, 0, tzinfo=TZ)
    assert route.why == "after office hours; next office hours begin Thursday 03 Dec 08:00"


def test_with_the_received_at_policy_the_team_on_duty_at_receipt_takes_it():
    from dataclasses import replace

    route = new_referral_route(replace(EXAMPLE, policy="received_at"), SATURDAY_EVENING)
    assert route.instant == SATURDAY_EVENING
    assert "assigned at receipt" in route.why


def snapshot_on_saturday_evening() -> Snapshot:
    snap = Snapshot(SATURDAY_EVENING, unit=Unit({"team-a": "Team A", "team-c": "Team C"}, TZ))
    snap.on_duty = OnDuty("team-c", MONDAY_0800, "rotation")
    route = new_referral_route(EXAMPLE, SATURDAY_EVENING)
    snap.new_referrals = NewReferrals(route.instant, route.why, team_at(route.instant))
    return snap


def test_the_view_shows_the_team_on_duty_and_where_new_referrals_go_and_why():
    console = Console(width=160, file=io.StringIO(), color_system=None)
    console.print(render(snapshot_on_saturday_evening()))
    frame = console.file.getvalue()
    assert "on duty  Team C (team-c)" in frame
    assert "new referrals now go to Team A (team-a)" in frame
    assert "not an office day" in frame and "Monday 07 Dec 08:00" in frame


def test_the_plain_line_names_the_team_for_new_referrals_and_why():
    line = plain_line(snapshot_on_saturday_evening())
    assert "on duty team-c" in line
    assert "new referrals now go to team-a (not an office day" in line
