"""The simulation report: figures per policy, a Markdown summary and PNG plots."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from referral_router.policy_simulation import START, Outcome
from services.assignment.domain.rotation import on_duty_team
from services.assignment.domain.unit import Unit
from services.assignment.domain.workload import has_started

WARM_UP_DAYS = 60  # loads build up from zero; imbalance is measured after this


@dataclass(frozen=True)
class Figures:
    """Headline numbers of one policy."""

    policy: str
    imbalance_mean: float
    imbalance_p95: float
    usage_imbalance_mean: float
    continuity: float
    preliminary_met: float
    investigation_met: float
    max_usage: float
    imbalance_on_duty: float
    imbalance_off_duty: float
    imbalance_everyone: float


def team_ratio(
    outcome: Outcome, unit: Unit, day: int, series: str, teams: frozenset[str] | None = None
) -> list[float]:
    """Max ÷ min of a per-caseworker series inside each team on one day (NaN members left out).

    `series`: "fte" (load per FTE, new hires and mentors left out), "rate" (load per FTE,
    everyone at work) or "usage" (load ÷ capacity). A team is left out on a day when someone
    counted carries nothing, as `caseload_imbalance_ratio` does (the ratio is undefined then).
    """
    data = {"fte": outcome.daily_per_fte, "rate": outcome.daily_per_rate}.get(series, outcome.daily_usage)
    ratios = []
    for team in unit.teams:
        if teams is not None and team.id not in teams:
            continue
        members = unit.members(team.id)
        values = [data[m][day] for m in members if m in data and not math.isnan(data[m][day])]
        if len(values) >= 2 and min(values) > 0:
            ratios.append(max(values) / min(values))
    return ratios


def daily_imbalance(
    outcome: Outcome, unit: Unit, days: int, series: str, duty: bool | None = None
) -> list[float]:
    """The mean over teams of the within-team ratio, per day after the warm-up.

    `duty`: None for every team, True for the team on duty that day only, False for the others.
    """
    out = []
    for day in range(min(WARM_UP_DAYS, days // 2), days):
        teams = None if duty is None else _teams(unit, day, on_duty=duty)
        ratios = team_ratio(outcome, unit, day, series, teams)
        out.append(statistics.fmean(ratios) if ratios else float("nan"))
    return [r for r in out if not math.isnan(r)]


def _teams(unit: Unit, day: int, *, on_duty: bool) -> frozenset[str]:
    """The team on duty at noon of the simulated day, or all the others."""
    noon = datetime.combine(START + timedelta(days=day), time(12), unit.tz)
    duty = on_duty_team(unit.plan, noon, unit.tz).team
    return frozenset(t.id for t in unit.teams if (t.id == duty) == on_duty)


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def figures(outcome: Outcome, unit: Unit, days: int) -> Figures:
    """Imbalance, continuity and deadlines met for one policy."""
    fte = daily_imbalance(outcome, unit, days, "fte")
    usage = daily_imbalance(outcome, unit, days, "usage")
    investigations = [c.investigation_met for c in outcome.cases if c.investigation_met is not None]
    usages = [u for series in outcome.daily_usage.values() for u in series if not math.isnan(u)]
    return Figures(
        outcome.policy,
        statistics.fmean(fte) if fte else float("nan"),
        sorted(fte)[int(0.95 * (len(fte) - 1))] if fte else float("nan"),
        statistics.fmean(usage) if usage else float("nan"),
        outcome.continuity_kept / outcome.continuity_due if outcome.continuity_due else float("nan"),
        sum(c.preliminary_met for c in outcome.cases) / max(len(outcome.cases), 1),
        sum(investigations) / max(len(investigations), 1),
        max(usages, default=float("nan")),
        _mean(daily_imbalance(outcome, unit, days, "fte", duty=True)),
        _mean(daily_imbalance(outcome, unit, days, "fte", duty=False)),
        _mean(daily_imbalance(outcome, unit, days, "rate")),
    )


HEADER = [
    "| policy | load per FTE, max ÷ min in team (mean) | same, 95th percentile "
    "| load ÷ capacity, max ÷ min (mean) | continuity kept | preliminary assessment in 14 days "
    "| investigation in 4 months | highest load ÷ capacity |",
    "|---|---|---|---|---|---|---|---|",
]


def table(rows: list[Figures]) -> list[str]:
    """The figures as a Markdown table."""
    return HEADER + [
        f"| {f.policy} | {f.imbalance_mean:.2f} | {f.imbalance_p95:.2f} | {f.usage_imbalance_mean:.2f} "
        f"| {f.continuity:.0%} | {f.preliminary_met:.1%} | {f.investigation_met:.1%} | {f.max_usage:.2f} |"
        for f in rows
    ]


SPLIT_HEADER = [
    "| policy | load per FTE, max ÷ min: team on duty | teams off duty | all teams "
    "| same, new hires and mentors included |",
    "|---|---|---|---|---|",
]


def split_table(rows: list[Figures]) -> list[str]:
    """Where the imbalance is: the team taking new cases against the teams working in peace."""
    return SPLIT_HEADER + [
        f"| {f.policy} | {f.imbalance_on_duty:.2f} | {f.imbalance_off_duty:.2f} | {f.imbalance_mean:.2f} "
        f"| {f.imbalance_everyone:.2f} |"
        for f in rows
    ]


def calibration(outcome: Outcome, unit: Unit, days: int, referrals: int) -> list[str]:
    """The model's scale against DOMAIN.md §7, so a reader can check it is a unit of that size."""
    office_days = sum(unit.calendar.is_office_day(START + timedelta(days=d)) for d in range(days))
    investigations = [c for c in outcome.cases if c.opened_on is not None]
    per_period: dict[tuple[str, int], int] = {}
    for c in investigations:
        period = (c.assigned_on - START).days // unit.plan.period_days
        if c.team in _teams(unit, period * unit.plan.period_days, on_duty=True):
            per_period[(c.team, period)] = per_period.get((c.team, period), 0) + 1
    per_worker = [
        n
        / sum(
            has_started(w, START + timedelta(days=p * unit.plan.period_days))
            for w in unit.staff
            if w.team == t
        )
        for (t, p), n in per_period.items()
    ]
    open_count = [0] * (days + 1)
    for c in investigations:
        assert c.opened_on is not None and c.closes_on is not None
        first, last = (c.opened_on - START).days, min((c.closes_on - START).days, days)
        if first < last:
            open_count[first] += 1
            open_count[last] -= 1
    running, per_caseworker = 0, []
    for d in range(days):
        running += open_count[d]
        staff = sum(has_started(w, START + timedelta(days=d)) for w in unit.staff)
        if d >= min(WARM_UP_DAYS, days // 2):
            per_caseworker.append(running / staff)
    usages = [
        u for series in outcome.daily_usage.values() for u in series[WARM_UP_DAYS:] if not math.isnan(u)
    ]
    scale = days / 365
    return [
        "| DOMAIN.md §7 | a unit of this size | this run |",
        "|---|---|---|",
        f"| referrals per working day | 10–14 | {referrals / max(office_days, 1):.1f} |",
        f"| new investigations a year | 700–1,200 | {len(investigations) / scale:,.0f} |",
        f"| new investigations per caseworker per on-duty period | 5–8 | {_mean(per_worker):.1f} |",
        f"| open investigations per caseworker at a time | 11–19 | {_mean(per_caseworker):.1f} |",
        f"| load ÷ capacity, mean over caseworker-days (share above 1) | — | {_mean(usages):.2f} "
        f"({sum(u > 1 for u in usages) / max(len(usages), 1):.0%}) |",
    ]


def write_report(
    unit: Unit,
    outcomes: list[Outcome],
    without_absences: list[Outcome],
    days: int,
    out_dir: Path,
    referrals: int,
) -> Path:
    """Write the Markdown report and PNG plots into `out_dir`; return the Markdown path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = _plots(unit, outcomes, days, out_dir)
    lines = [
        "# Simulation of caseworker selection",
        "",
        f"{days} days from {START}, {referrals} synthetic referrals, unit `{unit.name}`; every "
        f"policy gets the same referrals, absences and new hires (`referral-router simulate --days {days}`).",
        "",
        *table(rows := [figures(o, unit, days) for o in outcomes]),
        "",
        "The same imbalance by the team's place in the rotation (a team takes new cases only while "
        "on duty; off duty its loads drift apart as cases close), and with new hires and mentors "
        "counted at their employment rate like everyone else:",
        "",
        *split_table(rows),
        "",
        f"Scale of the model, {outcomes[0].policy} policy (referrals per working day counts weekend "
        "referrals too, as the unit must handle them; caseworkers include new hires once started):",
        "",
        *calibration(outcomes[0], unit, days, referrals),
        "",
        "The same referrals with nobody away:",
        "",
        *table([figures(o, unit, days) for o in without_absences]),
        "",
        f"Ratios are daily means over teams after a {WARM_UP_DAYS}-day warm-up. Load per FTE compares "
        "caseworkers at work who are neither new hires nor mentors (their capacity is reduced on "
        "purpose); load ÷ capacity compares everyone at work.",
        "",
    ]
    lines += [f"![{title}]({path.name})" for title, path in plots]
    report = out_dir / "SIMULATION.md"
    report.write_text("\n".join(lines) + "\n", "utf-8")
    return report


def _plots(unit: Unit, outcomes: list[Outcome], days: int, out_dir: Path) -> list[tuple[str, Path]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dates: list[Any] = [START + timedelta(days=d) for d in range(days)]
    made: list[tuple[str, Path]] = []
    for o in outcomes:
        fig, axes = plt.subplots(len(unit.teams), 1, figsize=(10, 2.6 * len(unit.teams)), sharex=True)
        for ax, team in zip(axes, unit.teams, strict=True):
            for m in unit.members(team.id):
                ax.plot(dates, o.daily_load[m], linewidth=0.8, label=m)
            ax.set_ylabel(f"{team.id}\nweighted load")
            ax.legend(fontsize=6, ncol=6, loc="upper left")
        fig.suptitle(f"Weighted load per caseworker — {o.policy}")
        made.append((f"weighted load, {o.policy}", _save(fig, out_dir / f"load_{o.policy}.png")))
    fig, ax = plt.subplots(figsize=(10, 3.5))
    for o in outcomes:
        series = [
            statistics.fmean(r) if (r := team_ratio(o, unit, d, "fte")) else float("nan") for d in range(days)
        ]
        ax.plot(dates, series, linewidth=0.9, label=o.policy)
    ax.axhline(1.25, color="grey", linestyle="--", linewidth=0.8, label="target 1.25")
    ax.set_ylim(1, 4)
    ax.set_ylabel("max ÷ min load per FTE")
    ax.legend()
    made.append(("imbalance ratio", _save(fig, out_dir / "imbalance.png")))
    made.append(("imbalance through the rotation", _cycle_plot(unit, outcomes, days, out_dir, plt)))
    made.append(("new hires and mentors", _new_hires(unit, outcomes[0], dates, out_dir, plt)))
    fig, ax = plt.subplots(figsize=(8, 3.5))
    rows = [figures(o, unit, days) for o in outcomes]
    labels = ["continuity kept", "preliminary in 14 days", "investigation in 4 months"]
    for i, f in enumerate(rows):
        values = [f.continuity, f.preliminary_met, f.investigation_met]
        ax.bar([x + i * 0.25 for x in range(3)], values, width=0.25, label=f.policy)
    ax.set_xticks([x + 0.25 for x in range(3)], labels)
    ax.set_ylim(0, 1.05)
    ax.legend()
    made.append(("continuity and deadlines met", _save(fig, out_dir / "continuity_deadlines.png")))
    return made


def by_rotation_day(outcome: Outcome, unit: Unit, days: int) -> dict[int, float]:
    """Mean within-team ratio (load per FTE) by days since the team's duty period began.

    Days 0 to period-1 are the team's own duty period; the rest are the weeks off duty.
    """
    started: dict[str, int] = {}
    ratios: dict[int, list[float]] = {}
    for day in range(days):
        duty = next(iter(_teams(unit, day, on_duty=True)))
        if day == 0 or duty not in _teams(unit, day - 1, on_duty=True):
            started[duty] = day
        if day < min(WARM_UP_DAYS, days // 2):
            continue
        for team, first in started.items():
            for ratio in team_ratio(outcome, unit, day, "fte", frozenset({team})):
                ratios.setdefault(day - first, []).append(ratio)
    return {phase: statistics.fmean(values) for phase, values in sorted(ratios.items())}


def _cycle_plot(unit: Unit, outcomes: list[Outcome], days: int, out_dir: Path, plt: Any) -> Path:
    fig, ax = plt.subplots(figsize=(10, 3.5))
    for o in outcomes:
        series = by_rotation_day(o, unit, days)
        ax.plot(list(series), list(series.values()), marker=".", linewidth=0.9, label=o.policy)
    ax.axvspan(0, unit.plan.period_days, color="grey", alpha=0.15, label="team on duty")
    ax.axhline(1.25, color="grey", linestyle="--", linewidth=0.8, label="target 1.25")
    ax.set_xlabel("days since the team's duty period began")
    ax.set_ylabel("max ÷ min load per FTE")
    ax.set_title("Imbalance inside a team through the rotation (mean over teams and cycles)")
    ax.legend(fontsize=8)
    return _save(fig, out_dir / "imbalance_cycle.png")


def _new_hires(unit: Unit, o: Outcome, dates: list[Any], out_dir: Path, plt: Any) -> Path:
    fig, ax = plt.subplots(figsize=(10, 3.5))
    hires = [w for w in unit.staff if w.mentor]
    for w in hires:
        ax.plot(dates, o.daily_load[w.staff_id], label=f"{w.staff_id} (new hire)")
        ax.plot(dates, o.daily_load[w.mentor or ""], linestyle="--", label=f"{w.mentor} (mentor)")
    ax.set_ylabel("weighted load")
    ax.set_title(f"New hires and their mentors — {o.policy}")
    ax.legend(fontsize=7, ncol=3)
    return _save(fig, out_dir / "new_hires.png")


def _save(fig: object, path: Path) -> Path:
    fig.tight_layout()  # type: ignore[attr-defined]
    fig.savefig(path, dpi=90)  # type: ignore[attr-defined]
    import matplotlib.pyplot as plt

    plt.close(fig)  # type: ignore[arg-type]
    return path
