"""`referral-router report --simulated`: the files, their determinism, the simulation's statement
that it is one, and that its parameters switch on the change date."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from referral_router.cli import main
from services.assignment.domain.outcome import MEASURES

ARGS = ["report", "--from", "2026-01-01", "--to", "2026-12-31", "--change-date", "2026-07-01", "--simulated"]


def test_a_simulated_year_writes_markdown_svgs_and_json_the_same_each_time(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    assert main([*ARGS, "--out", str(first)]) == 0
    assert main([*ARGS, "--out", str(second)]) == 0
    ids = [spec.id for spec in MEASURES]
    assert sorted(p.name for p in first.iterdir()) == sorted(
        ["report.md", "report.json", *(f"{i}.svg" for i in ids)]
    )
    for path in first.iterdir():
        assert path.read_bytes() == (second / path.name).read_bytes(), path.name
    for i in ids:
        assert ET.parse(first / f"{i}.svg").getroot().tag.endswith("svg")
    body = json.loads((first / "report.json").read_text("utf-8"))
    assert (body["from"], body["to"], body["change_date"]) == ("2026-01-01", "2026-12-31", "2026-07-01")
    assert [m["id"] for m in body["measures"]] == ids
    assert {v["month"] for v in body["measures"][0]["monthly"]} == {f"2026-{m:02d}" for m in range(1, 13)}
    markdown = (first / "report.md").read_text("utf-8")
    assert "THIS IS A SIMULATION, NOT MEASUREMENTS" in markdown
    assert all(f"]({i}.svg)" in markdown for i in ids)


def test_the_simulation_follows_its_parameters_across_the_change_date(tmp_path: Path) -> None:
    assert main([*ARGS, "--out", str(tmp_path)]) == 0
    m = {x["id"]: x for x in json.loads((tmp_path / "report.json").read_text("utf-8"))["measures"]}
    assert m["sick_leave_days_per_fte"]["before"] > m["sick_leave_days_per_fte"]["after"]
    assert m["preliminary_on_time"]["before"] < m["preliminary_on_time"]["after"]
    assert m["protection_on_time"]["before"] < m["protection_on_time"]["after"]
    assert m["overload_flags_raised"]["before"] > m["overload_flags_raised"]["after"]
    # Another seed gives another year.
    assert main([*ARGS, "--seed", "7", "--out", str(tmp_path / "other")]) == 0
    other = json.loads((tmp_path / "other" / "report.json").read_text("utf-8"))["measures"]
    assert other != list(m.values())


def test_bad_dates_exit_2_naming_the_option(tmp_path: Path, capsys: object) -> None:
    args = ["report", "--from", "2026-06-01", "--to", "2026-01-01", "--simulated", "--out", str(tmp_path)]
    assert main(args) == 2
    assert "--to" in capsys.readouterr().err  # type: ignore[attr-defined]
    assert not (tmp_path / "report.md").exists()
