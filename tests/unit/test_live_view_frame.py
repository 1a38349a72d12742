"""The live view's data gathering (pure parsing) and rendering, without a running stack."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from rich.console import Console

from referral_router.live_data import (
    Load,
    Notice,
    OnDuty,
    Snapshot,
    Unit,
    apply_metrics,
    email_notices,
    latest,
    loads,
    parse_metrics,
    teams_notices,
    total,
)
from referral_router.live_view import bar, duration, plain_line, render, screenshot_svg, show
from referral_router.portal_simulator import SimulatorStats
from referral_router.stack import REPO

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)

METRICS = """\
# HELP referrals_received_total Referrals received.
# TYPE referrals_received_total counter
referrals_received_total{acute="false",channel="e_service",kind="report",reporter_group="police"} 7.0
referrals_received_total{acute="true",channel="phone",kind="report",reporter_group="private"} 2.0
# HELP referrals_assigned_total Assignments and reassignments.
# TYPE referrals_assigned_total counter
referrals_assigned_total{reason="rotation",team="team-a"} 5.0
referrals_assigned_total{reason="continuity",team="team-a"} 1.0
referrals_assigned_total{reason="rotation",team="team-b"} 2.0
# HELP referrals_open Open cases by team and status.
# TYPE referrals_open gauge
referrals_open{status="assigned",team="team-a"} 6.0
# HELP caseload_weighted Weighted open caseload per caseworker.
# TYPE caseload_weighted gauge
caseload_weighted{caseworker="cw-a1",team="team-a"} 3.25
caseload_weighted{caseworker="cw-a2",team="team-a"} 0.0
caseload_weighted{caseworker="cw-b1",team="team-b"} 1.5
# HELP deadlines_open Legal deadlines not yet met, by state.
# TYPE deadlines_open gauge
deadlines_open{deadline="protection_assessment",state="ok"} 4.0
deadlines_open{deadline="protection_assessment",state="breached"} 2.0
deadlines_open{deadline="preliminary_assessment",state="approaching"} 3.0
# HELP deadline_breaches_total Legal deadlines breached.
# TYPE deadline_breaches_total counter
deadline_breaches_total{deadline="protection_assessment",team="team-a"} 2.0
deadline_breaches_total{deadline="investigation",team="team-b"} 0.0
# HELP referral_assignment_seconds Seconds from receipt (submitted_at) to assignment.
# TYPE referral_assignment_seconds histogram
referral_assignment_seconds_bucket{le="1.0"} 3.0
referral_assignment_seconds_bucket{le="+Inf"} 8.0
referral_assignment_seconds_count 8.0
referral_assignment_seconds_sum 12.5
"""

WORKLOAD = {
    "caseworkers": [
        {"staff_id": "cw-a1", "team": "team-a", "capacity": 10.0, "weighted_load": 3.25},
        {"staff_id": "cw-a2", "team": "team-a", "capacity": 20.0, "weighted_load": 0.0},
    ]
}

SMTP_LISTING = [
    {
        "id": 1,
        "rcpt_tos": ["cw-a1@kommun.example"],
        "subject": "Nytt ärende: R-7Q2K9M3XH4TB",
        "received_at": "2026-11-22T08:59:00+00:00",
        "text": "body that the view never shows",
    },
    {
        "id": 2,
        "rcpt_tos": ["mgr-a@kommun.example"],
        "subject": "Tidsfrist överskriden: R-7Q2K9M3XH4TB",
        "received_at": "2026-11-22T08:59:30+00:00",
    },
]
TEAMS_LISTING = [
    {
        "id": 1,
        "team": "team-b",
        "received_at": "2026-11-22T08:58:00+00:00",
        "body": {
            "type": "message",
            "attachments": [{"content": {"body": [{"type": "TextBlock", "text": "Jourbyte: team-b"}]}}],
        },
    }
]


def snapshot() -> Snapshot:
    snap = Snapshot(NOW, unit=Unit({"team-a": "Team A", "team-b": "Team B"}, ZoneInfo("Europe/Stockholm")))
    samples = parse_metrics(METRICS)
    apply_metrics(snap, samples)
    snap.loads = loads(samples, WORKLOAD)
    snap.on_duty = OnDuty("team-a", NOW + timedelta(days=1, hours=23), "rotation")
    snap.health = {"intake": "ready", "assignment": "ready", "notifications": "ready", "metrics": "ready"}
    snap.notices = latest([*email_notices(SMTP_LISTING), *teams_notices(TEAMS_LISTING)])
    snap.notices_total = 3
    return snap


def test_metrics_are_summed_over_labels_and_matched_by_label():
    samples = parse_metrics(METRICS)
    assert total(samples, "referrals_received_total") == 9
    assert total(samples, "referrals_received_total", acute="true") == 2
    assert total(samples, "referrals_assigned_total", team="team-a") == 6
    assert total(samples, "no_such_metric") == 0


def test_apply_metrics_fills_counts_per_team_and_deadline_state():
    snap = snapshot()
    assert (snap.received, snap.assigned) == (9, 8)
    assert snap.assigned_by_team == {"team-a": 6, "team-b": 2}
    assert snap.open_by_team == {"team-a": 6}
    assert snap.breaches_total == 2
    assert snap.deadline_count("breached") == 2
    assert snap.deadline_count("approaching") == 3


def test_loads_take_capacity_from_the_workload_api_when_it_answers():
    samples = parse_metrics(METRICS)
    assert loads(samples, WORKLOAD) == [
        Load("team-a", "cw-a1", 3.25, 10.0),
        Load("team-a", "cw-a2", 0.0, 20.0),
        Load("team-b", "cw-b1", 1.5, None),
    ]
    assert all(x.capacity is None for x in loads(samples, None))


def test_notices_keep_only_time_recipient_and_subject_newest_first():
    notices = latest([*email_notices(SMTP_LISTING), *teams_notices(TEAMS_LISTING)], count=2)
    assert notices == [
        Notice(datetime(2026, 11, 22, 8, 59, 30, tzinfo=UTC), "email", "mgr-a@kommun.example",
               "Tidsfrist överskriden: R-7Q2K9M3XH4TB"),
        Notice(datetime(2026, 11, 22, 8, 59, tzinfo=UTC), "email", "cw-a1@kommun.example",
               "Nytt ärende: R-7Q2K9M3XH4TB"),
    ]  # fmt: skip
    assert teams_notices(TEAMS_LISTING)[0].subject == "Jourbyte: team-b"
    assert teams_notices([{"id": 3, "team": "t", "body": {}}])[0].subject == "(card without a title)"


def test_unit_names_and_time_zone_come_from_the_unit_config():
    unit = Unit.load(REPO / "deploy" / "config" / "unit.example.yaml")
    assert unit.team_names["team-a"] == "Team A"
    assert str(unit.tz) == "Europe/Stockholm"
    assert Unit.load(REPO / "no-such-file.yaml").team_names == {}


def test_bars_and_durations():
    assert bar(0, 10, width=10) == "░" * 10
    assert bar(5, 10, width=10) == "█" * 5 + "░" * 5
    assert bar(30, 10, width=10) == "█" * 10
    assert bar(1, 0, width=4) == "░" * 4
    assert duration(timedelta(days=1, hours=22, minutes=5)) == "1 d 22 h"
    assert duration(timedelta(hours=3, minutes=7)) == "3 h 7 min"
    assert duration(timedelta(seconds=42)) == "42 s"
    assert duration(timedelta(seconds=-5)) == "0 s"


def rendered(snap: Snapshot) -> str:
    console = Console(width=160, file=io.StringIO(), color_system=None)
    console.print(render(snap))
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_the_frame_shows_every_part():
    text = rendered(snapshot())
    assert "on duty  Team A (team-a)" in text
    assert re.search(r"handover Tue 24 Nov 09:00 \(in 1 d 23 h\)", text)  # local time, CET
    assert re.search(r"received\s+9", text) and re.search(r"assigned\s+8", text)
    assert re.search(r"cw-a1\s+█{5}░{11}\s+3\.25/10\.0", text)  # 3.25 of 10 = 5 of 16 cells
    assert re.search(r"cw-b1\s+█{16}\s+1\.50", text)  # no capacity known: scaled to the largest
    assert re.search(r"protection assessment\s+4\s+0\s+2", text)
    assert re.search(r"breaches so far\s+2", text)
    assert "Latest notifications (3 in all)" in text
    assert re.search(r"09:59:30\s+email\s+mgr-a@kommun.example\s+Tidsfrist överskriden", text)
    assert re.search(r"teams\s+team-b\s+Jourbyte", text)
    assert re.search(r"✓\s+intake\s+ready", text)
    assert "body that the view never shows" not in text


def test_a_service_not_ready_is_marked_and_problems_are_listed():
    snap = snapshot()
    snap.health["metrics"] = "down (ConnectError)"
    snap.problems.append("metrics: ConnectError")
    text = rendered(snap)
    assert re.search(r"✗\s+metrics\s+down \(ConnectError\)", text)
    assert "! metrics: ConnectError" in text
    assert not snap.all_ready


def test_the_simulated_clock_and_its_team_on_duty_are_shown_when_accelerated():
    snap = snapshot()
    snap.simulator = SimulatorStats(accepted=12, repeats=2)
    snap.simulated_at = NOW - timedelta(days=20)
    snap.simulated_on_duty = OnDuty("team-b", NOW - timedelta(days=15), "rotation")
    text = rendered(snap)
    assert "simulated time Mon 02 Nov 10:00" in text
    assert "on duty  Team B (team-b)" in text
    assert "12 sent ok, 2 repeats" in text


def test_the_plain_line_summarises_the_frame():
    line = plain_line(snapshot())
    assert line.startswith("[10:00:00]")
    for part in ("on duty team-a (handover in 1 d 23 h)", "received 9", "assigned 8",
                 "approaching 3", "breached 2", "notifications 3", "services 4/4 ready"):  # fmt: skip
        assert part in line


def test_the_screenshot_is_an_svg_of_the_frame():
    svg = screenshot_svg(snapshot())
    assert svg.startswith("<svg") and "</svg>" in svg
    assert "cw-a1" in svg and "Team&#160;A" in svg


async def test_off_a_terminal_show_prints_lines_at_once_for_the_first_assignment_then_saves_svg(
    tmp_path, capsys
):
    frames = iter([0, 0, 3, 4, 5, 6])

    async def source() -> Snapshot:
        snap = snapshot()
        snap.assigned = next(frames)
        return snap

    shot = tmp_path / "docs" / "view.svg"
    await show(source, terminal=False, screenshot=shot, screenshot_after_s=2.5)
    lines = capsys.readouterr().out.splitlines()
    assert [re.search(r"assigned (\d+)", x).group(1) for x in lines] == ["0", "3"]
    assert shot.read_text("utf-8").startswith("<svg")
