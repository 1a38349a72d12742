"""The offline simulation runs the domain code and writes its report (issue 4, point 7)."""

from pathlib import Path

from referral_router.cli import main
from referral_router.simulate_report import WARM_UP_DAYS


def test_a_short_simulation_writes_a_report_comparing_the_three_policies_with_plots(tmp_path, capsys):
    assert main(["simulate", "--days", str(WARM_UP_DAYS + 30), "--out", str(tmp_path), "--seed", "7"]) == 0
    report = (tmp_path / "SIMULATION.md").read_text("utf-8")
    for policy in ("weighted", "round_robin", "fewest_open"):
        assert f"| {policy} |" in report
    assert {p.name for p in tmp_path.glob("*.png")} == {
        "load_weighted.png", "load_round_robin.png", "load_fewest_open.png",
        "imbalance.png", "new_hires.png", "continuity_deadlines.png",
    }  # fmt: skip
    assert "# Simulation" in capsys.readouterr().out


def test_our_policy_keeps_every_available_family_with_its_caseworker_and_balances_better(tmp_path):
    from referral_router.simulate import simulate

    report = simulate(120, ("weighted", "round_robin"), tmp_path, 11, Path("deploy/config/unit.example.yaml"))
    rows = [
        line.split("|") for line in report.read_text("utf-8").splitlines() if line.startswith("| weighted")
    ]
    rr = [
        line.split("|") for line in report.read_text("utf-8").splitlines() if line.startswith("| round_robin")
    ]
    assert rows[0][5].strip() == "100%"
    assert float(rows[0][2]) < float(rr[0][2])
