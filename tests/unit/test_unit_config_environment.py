"""The example unit file reads its links' base and Teams webhooks from the environment; the
services' clock can be shifted for the dev stack's accelerated simulation and for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.clock import ShiftedClock, SystemClock
from shared.settings import DevClockSettings
from shared.unit_config import UnitConfigError, interpolate, load_unit_config

EXAMPLE = Path("deploy/config/unit.example.yaml")


def test_dev_teams_port_moves_every_teams_webhook_and_dev_assignment_port_the_links(monkeypatch):
    monkeypatch.setenv("DEV_TEAMS_PORT", "39026")
    monkeypatch.setenv("DEV_ASSIGNMENT_PORT", "38082")
    config = load_unit_config(EXAMPLE)
    assert [t.teams_webhook for t in config.teams] == [
        f"http://127.0.0.1:39026/webhook/{t}" for t in ("team-a", "team-b", "team-c")
    ]
    assert config.base_url == "http://127.0.0.1:38082"


def test_without_variables_the_example_keeps_the_documented_dev_ports(monkeypatch):
    for name in ("DEV_TEAMS_PORT", "DEV_ASSIGNMENT_PORT", "UNIT_BASE_URL", "TEAMS_WEBHOOK_TEAM_A"):
        monkeypatch.delenv(name, raising=False)
    config = load_unit_config(EXAMPLE)
    assert config.teams[0].teams_webhook == "http://127.0.0.1:8026/webhook/team-a"
    assert config.base_url == "http://127.0.0.1:8082"


def test_production_sets_a_teams_webhook_and_the_base_url_outright(monkeypatch):
    monkeypatch.setenv("TEAMS_WEBHOOK_TEAM_A", "https://prod.example/workflows/abc?sig=s3cr3t")
    monkeypatch.setenv("UNIT_BASE_URL", "https://mottagning.kommun.example")
    config = load_unit_config(EXAMPLE)
    assert config.teams[0].teams_webhook == "https://prod.example/workflows/abc?sig=s3cr3t"
    assert config.base_url == "https://mottagning.kommun.example"


def test_a_variable_without_default_that_is_not_set_stops_the_load_naming_it(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_WEBHOOK", raising=False)
    text = EXAMPLE.read_text("utf-8").replace(
        "${TEAMS_WEBHOOK_TEAM_A:-http://127.0.0.1:${DEV_TEAMS_PORT:-8026}/webhook/team-a}",
        "${NO_SUCH_WEBHOOK}",
    )
    path = tmp_path / "unit.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(UnitConfigError, match="NO_SUCH_WEBHOOK is not set"):
        load_unit_config(path)


def test_interpolation_leaves_other_text_and_values_alone():
    env = {"A": "x"}
    assert interpolate({"k": ["$5 and ${A}", 3, None]}, env) == {"k": ["$5 and x", 3, None]}


def test_a_shifted_clock_starts_where_told_and_runs_at_its_rate_but_never_ahead_of_real_time():
    real = datetime.now(UTC)
    saturday = datetime(2026, 11, 21, 18, 30, tzinfo=UTC)
    steady = ShiftedClock(saturday, since=real, rate=1.0)
    assert saturday <= steady.now() < saturday + timedelta(minutes=5)
    fast = ShiftedClock(real - timedelta(days=10), since=real - timedelta(seconds=100), rate=36_000.0)
    assert fast.now() <= datetime.now(UTC)  # 100 s at 36,000x would be 41 days on: capped
    assert fast.now() > real - timedelta(seconds=5)


def test_dev_clock_settings_give_the_real_clock_unless_a_start_is_set():
    assert isinstance(DevClockSettings().clock(), SystemClock)
    start = datetime(2026, 11, 21, 18, 30, tzinfo=UTC)
    clock = DevClockSettings(start=start, rate=2.0).clock()
    assert isinstance(clock, ShiftedClock) and clock.rate == 2.0 and clock.start == start


def test_a_dev_clock_start_without_a_utc_offset_is_refused():
    with pytest.raises(ValueError, match="timezone"):
        DevClockSettings.model_validate({"start": "2026-11-21T18:30:00"})


def test_the_accelerated_dev_stack_gives_the_services_the_simulators_own_clock(monkeypatch):
    from referral_router.dev import DevStack
    from referral_router.portal_simulator import SimClock
    from referral_router.stack import Ports
    from services.assignment.main import AssignmentSettings

    simulated = SimClock(5000.0, timedelta(days=42))
    stack = DevStack(Path("/nonexistent"), Ports(), "tansu", simulated.dev_clock_env())
    for name, value in stack.service_env.items():
        monkeypatch.setenv(name, value)
    services_clock = AssignmentSettings().dev_clock.clock()
    before, theirs, after = simulated.now(), services_clock.now(), simulated.now()
    assert before <= theirs <= after  # the same instant, running 5000 times as fast
    assert theirs < datetime.now(UTC) - timedelta(days=30)


def test_without_acceleration_the_services_keep_the_real_clock():
    from referral_router.portal_simulator import SimClock

    assert SimClock(1.0).dev_clock_env() == {}


def test_with_accelerate_the_scans_run_at_least_once_per_simulated_hour(tmp_path):
    from referral_router.dev import UNIT_CONFIG, unit_file_for

    assert unit_file_for(1.0, tmp_path) == UNIT_CONFIG  # real time: the example file itself
    config = load_unit_config(unit_file_for(5000.0, tmp_path))
    assert config.deadlines.scan_interval_s * 5000 <= 3600  # 0.72 s real: one simulated hour
    assert config.notifications.escalation.scan_interval_s * 5000 <= 3600
    slowest = load_unit_config(unit_file_for(1e6, tmp_path))
    assert slowest.deadlines.scan_interval_s == 0.5  # never busier than twice a second
    assert slowest.teams == load_unit_config(UNIT_CONFIG).teams  # the rest is the example's
