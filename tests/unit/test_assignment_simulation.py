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


def test_our_policy_keeps_a_child_with_their_open_case_s_caseworker_and_balances_better(
    tmp_path, monkeypatch
):
    import referral_router.simulate as sim
    from services.assignment.domain.decide import decide

    same_child_open = {"due": 0, "kept": 0}

    def recording(s, rules, weights):
        d = decide(s, rules, weights)
        m = s.match
        if m is not None and m.closed_at is None and m.child_key == s.referral.child_key:
            away = s.availability.absent | s.availability.excluded
            if m.caseworker not in away:
                same_child_open["due"] += 1
                same_child_open["kept"] += d.staff_id == m.caseworker
        return d

    monkeypatch.setattr(sim, "decide", recording)
    report = sim.simulate(
        120, ("weighted", "round_robin"), tmp_path, 11, Path("deploy/config/unit.example.yaml")
    )
    lines = report.read_text("utf-8").splitlines()
    ours = [line.split("|") for line in lines if line.startswith("| weighted")]
    rr = [line.split("|") for line in lines if line.startswith("| round_robin")]
    assert same_child_open["due"] > 0 and same_child_open["kept"] == same_child_open["due"]
    assert float(ours[0][5].strip().rstrip("%")) >= 80  # families too, unless their caseworker is full
    assert float(ours[0][2]) < float(rr[0][2])
