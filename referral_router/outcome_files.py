"""The outcome report as files: `report.md` (a table per measure), one SVG plot per measure and
`report.json` (the shape of `GET /v1/outcome-report`). Plots need matplotlib (the `plots` extra)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from services.assignment.domain.outcome import Measure, OutcomeReport, as_json

UNIT_WORDS = {
    "days": "days",
    "share": "share (0–1)",
    "count": "count per month",
    "per_fte": "per FTE",
    "ratio": "ratio",
}


def write_outcome_files(report: OutcomeReport, out: Path, preface: Sequence[str] = ()) -> Path:
    """Write the three kinds of file into `out` (created if missing); the Markdown's path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(
        json.dumps(as_json(report), indent=2, ensure_ascii=False) + "\n", "utf-8"
    )
    lines = [
        f"# Outcome report {report.start} – {report.end}",
        "",
        *preface,
        f"Change date: {report.change_date or 'none'}. Generated {report.generated_at:%Y-%m-%d %H:%M %Z}.",
        'How each figure is defined: docs/WORKING_ENVIRONMENT.md, "The outcome report".',
        "",
        "| Measure | Unit | Before | After | Whole period |",
        "|---|---|---:|---:|---:|",
        *(
            f"| [{m.title_en}](#{m.id}) | {UNIT_WORDS[m.unit]} | {_fmt(m.before)} | {_fmt(m.after)} | "
            f"{_fmt(m.whole)} |"
            for m in report.measures
        ),
        "",
    ]
    for m in report.measures:
        _plot(m, report, out / f"{m.id}.svg")
        lines += _section(m)
    path = out / "report.md"
    path.write_text("\n".join(lines), "utf-8")
    return path


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 10:
        return f"{value:.0f}" if value == int(value) else f"{value:.1f}"
    return f"{value:.2f}"


def _teams(m: Measure) -> list[str]:
    return sorted({v.team for v in m.monthly if v.team is not None})


def _section(m: Measure) -> list[str]:
    teams = _teams(m)
    months = sorted({v.month for v in m.monthly})
    cell = {(v.month, v.team): v.value for v in m.monthly}
    return [
        f'<a id="{m.id}"></a>',
        f"## {m.title_en}",
        "",
        f"*{m.title_sv}* — {UNIT_WORDS[m.unit]}. Before: {_fmt(m.before)}, after: {_fmt(m.after)}, "
        f"whole period: {_fmt(m.whole)}.",
        "",
        f"![{m.title_en}]({m.id}.svg)",
        "",
        "| Month | Unit | " + " | ".join(teams) + " |",
        "|---|---:|" + "---:|" * len(teams),
        *(
            f"| {month} | {_fmt(cell.get((month, None)))} | "
            + " | ".join(_fmt(cell.get((month, t))) for t in teams)
            + " |"
            for month in months
        ),
        "",
    ]


def _plot(m: Measure, report: OutcomeReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = m.id  # the same figures give the same file
    matplotlib.rcParams["svg.fonttype"] = "none"  # text as text: small files, searchable
    months = sorted({v.month for v in m.monthly})
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for team in [None, *_teams(m)]:
        values = {v.month: v.value for v in m.monthly if v.team == team}
        ys = [float("nan") if values.get(k) is None else values[k] for k in months]
        style = {"linewidth": 2.2, "color": "black"} if team is None else {"linewidth": 1, "linestyle": "--"}
        ax.plot(months, ys, marker="o", markersize=3, label=team or "unit", **style)  # type: ignore[arg-type]
    if report.change_date is not None:
        change = f"{report.change_date:%Y-%m}"
        if change in months:
            ax.axvline(months.index(change) - 0.5, color="grey", linewidth=1)
            ax.text(
                months.index(change) - 0.4, ax.get_ylim()[1], "change", va="top", fontsize=8, color="grey"
            )
    ax.set_title(m.title_en, fontsize=10)
    ax.set_ylabel(UNIT_WORDS[m.unit], fontsize=8)
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)
