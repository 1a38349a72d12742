"""The offline simulation runs the domain code and writes its report (issue 4, point 7)."""

from pathlib import Path

from referral_router.cli import main
from referral_router.policy_report import WARM_UP_DAYS, write_report


def test_a_short_simulation_writes_a_report_comparing_the_three_policies_with_plots(tmp_path, capsys):
    assert main(["simulate", "--days", str(WARM_UP_DAYS + 30), "--out", str(tmp_path), "--seed", "7"]) == 0
    report = (tmp_path / "SIMULATION.md").read_text("utf-8")
    for policy in ("weighted", "round_robin", "fewest_open"):
        assert f"| {policy} |" in report
    assert "| referrals per working day | 10–14 |" in report  # the scale, checked against DOMAIN.md §7
    assert "team on duty | teams off duty |" in report
    assert {p.name for p in tmp_path.glob("*.png")} == {
        "load_weighted.png", "load_round_robin.png", "load_fewest_open.png",
        "imbalance.png", "imbalance_cycle.png", "new_hires.png", "continuity_deadlines.png",
    }  # fmt: skip
    assert "# Simulation" in capsys.readouterr().out


def test_our_policy_keeps_a_child_with_their_open_case_s_caseworker_and_balances_better(
    tmp_path, monkeypatch
):
    import referral_router.policy_simulation as sim
    from services.assignment.domain.decide import decide_or_manager

    same_child_open = {"due": 0, "kept": 0}

    def recording(s, unit):
        d = decide_or_manager(s, unit)
        m = s.match
        if m is not None and m.closed_at is None and m.child_key == s.referral.child_key:
            away = s.availability.absent | s.availability.excluded
            if m.caseworker not in away:
                same_child_open["due"] += 1
                same_child_open["kept"] += d.staff_id == m.caseworker
        return d

    monkeypatch.setattr(sim, "decide_or_manager", recording)
    c = sim.compare(120, ("weighted", "round_robin"), 11, Path("deploy/config/unit.example.yaml"))
    report = write_report(c.unit, c.outcomes, c.without_absences, c.days, tmp_path, c.referrals)
    lines = report.read_text("utf-8").splitlines()
    ours = [line.split("|") for line in lines if line.startswith("| weighted")]
    rr = [line.split("|") for line in lines if line.startswith("| round_robin")]
    assert same_child_open["due"] > 0 and same_child_open["kept"] == same_child_open["due"]
    assert float(ours[0][5].strip().rstrip("%")) >= 80  # families too, unless their caseworker is full
    assert float(ours[0][2]) < float(rr[0][2])


def test_the_simulation_reads_back_from_leave_as_the_service_does_and_applies_the_daily_cap(monkeypatch):
    """Someone whose absence ended within `return_days` is `returning`; new cases are capped then.

    The service reads this from its absences table (`read_before_lock`); before the simulation
    did the same, our policy could fill a returning caseworker's empty caseload in one day.
    """
    import random
    from datetime import date, timedelta

    import referral_router.policy_simulation as sim
    from services.assignment.domain.decide import decide_or_manager
    from services.assignment.unit_from_config import unit_from_config
    from shared.unit_config import load_unit_config

    unit = unit_from_config(load_unit_config(Path("deploy/config/unit.example.yaml")))
    first_back = sim.START + timedelta(days=3)  # team-a is on duty for the first 14 days
    away = {sim.START + timedelta(days=d): frozenset({"cw-a2"}) for d in range(3)}
    simulation = sim.Simulation(unit, away)
    back = timedelta(days=unit.rules.return_days)
    assert "cw-a2" not in simulation.returning(sim.START + timedelta(days=2))  # away, not returning
    assert all("cw-a2" in simulation.returning(first_back + timedelta(days=d)) for d in range(back.days))
    assert "cw-a2" not in simulation.returning(first_back + back)
    assert "cw-a2" in simulation.away(sim.START) and "cw-a5" in simulation.away(sim.START)  # not yet hired

    per_day: dict[date, int] = {}

    def recording(s, unit):
        d = decide_or_manager(s, unit)
        if d.staff_id == "cw-a2" and d.reason != "continuity" and first_back <= s.day < first_back + back:
            per_day[s.day] = per_day.get(s.day, 0) + 1
        return d

    monkeypatch.setattr(sim, "decide_or_manager", recording)
    referrals = sim.make_referrals(14, random.Random(3), unit)
    simulation.run("weighted", referrals, 14, 3)
    assert per_day, "the returning caseworker, the least loaded, got new cases while returning"
    assert max(per_day.values()) <= unit.rules.return_max_per_day
