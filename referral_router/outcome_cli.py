"""`referral-router report`: the outcome report (issue 22) as report.md, SVG plots and
report.json, from assignment's database (DATABASE__URL, UNIT_CONFIG_PATH) or, with
`--simulated`, from a synthetic year of the unit (outcome_simulation.py)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.assignment.domain.outcome import OutcomeReport

SIMULATION_PREFACE = (
    "> **THIS IS A SIMULATION, NOT MEASUREMENTS.** Every figure below comes from a synthetic year",
    "> of the example unit (`referral-router report --simulated`, seed {seed}). Its parameters switch",
    "> on the change date from BEFORE (a unit without the model: no recovery time, few mentored",
    "> new hires) to AFTER (the claims the model makes). The differences are the assumptions fed in,",
    "> not evidence that the model works. Assumptions (BEFORE → AFTER):",
    ">",
    "> - protection assessments done by their due time: {b.protection_on_time:.0%} → "
    "{a.protection_on_time:.0%}",
    "> - preliminary decision after {b.preliminary_days[0]}–{b.preliminary_days[1]} days → "
    "{a.preliminary_days[0]}–{a.preliminary_days[1]} days (uniform)",
    "> - investigation length mean {b.lead_time_days[0]:.0f} days (sd {b.lead_time_days[1]:.0f}) → "
    "{a.lead_time_days[0]:.0f} (sd {a.lead_time_days[1]:.0f}), by the month it was opened",
    "> - a sick spell starts per person and office day with chance {b.sick_start_per_day} → "
    "{a.sick_start_per_day} (1–5 days, 1 in 20 three weeks)",
    "> - a caseworker leaves per month with chance {b.leaving_per_month} → {a.leaving_per_month}; "
    "replaced 30 days later",
    "> - new hires mentored: {b.mentored_share:.0%} → {a.mentored_share:.0%}",
    "> - overload flags per team and month {b.flags_per_team_month} → {a.flags_per_team_month}; "
    "incidents per month {b.incidents_per_month} → {a.incidents_per_month}",
    "> - unchanged: referrals at 11 a day on office days (a fifth on other days) with `simulate`'s",
    ">   seasonality, to the team on duty by the unit's rotation and its caseworkers in turn; 30 % lead",
    ">   to an investigation; four weeks of summer leave each; the legal clocks of the assignment",
    ">   service. Caseload evenness is not a parameter: it follows from who is at work.",
    ">",
    "> Lead times count by the month an investigation closed: those opened before the change date",
    "> (BEFORE's length) still close in the first months after it, so the shift shows with a lag.",
    "",
)


def add_report_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `report` sub-command."""
    report = sub.add_parser(
        "report",
        help="write the outcome report (report.md, SVG plots, report.json) for a period, from "
        "assignment's database (DATABASE__URL) or a simulated year (--simulated)",
    )
    report.add_argument("--from", dest="start", type=_date, required=True, help="first day (YYYY-MM-DD)")
    report.add_argument("--to", dest="end", type=_date, required=True, help="last day, included")
    report.add_argument("--change-date", type=_date, default=None, help="first day of the new way of working")
    report.add_argument("--out", type=Path, default=Path("outcome-report"), help="directory (created)")
    report.add_argument(
        "--simulated", action="store_true", help="a synthetic year of the unit instead of the database"
    )
    report.add_argument("--seed", type=int, default=2026, help="the simulation's seed")
    report.add_argument("--config", type=Path, default=None, help="the unit file (default UNIT_CONFIG_PATH)")
    report.set_defaults(run=run_report)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("give a date as YYYY-MM-DD") from None


def plots_unavailable(command: str) -> bool:
    """True, having said how to install it, when matplotlib is missing: `make run` installs only
    the dev stack's extra, and the plots of `report` and `simulate` need `.[plots]` (or `.[dev]`)."""
    if importlib.util.find_spec("matplotlib") is not None:
        return False
    print(
        f"referral-router {command} draws its plots with matplotlib, which is not installed:\n"
        "  make install   (or: .venv/bin/pip install -c constraints.txt -e '.[plots]')",
        file=sys.stderr,
    )
    return True


def run_report(args: argparse.Namespace) -> int:
    """Compute and write the report; 2 with a message on bad dates or a missing matplotlib."""
    from referral_router.outcome_files import write_outcome_files
    from services.assignment.domain.outcome import InvalidReportPeriod

    if plots_unavailable("report"):
        return 2
    try:
        report, preface = _simulated(args) if args.simulated else _measured(args)
    except InvalidReportPeriod as bad:
        print(f"referral-router report: --{bad.field_name.replace('_', '-')}: {bad}", file=sys.stderr)
        return 2
    path = write_outcome_files(report, args.out, preface)
    print(f"outcome report written to {path}")
    return 0


def _simulated(args: argparse.Namespace) -> tuple[OutcomeReport, tuple[str, ...]]:
    from referral_router.outcome_simulation import AFTER, BEFORE, simulate_year
    from services.assignment.domain.outcome import check_period, outcome_report
    from services.assignment.unit_from_config import unit_from_config
    from shared.unit_config import load_unit_config

    check_period(args.start, args.end, args.change_date)
    unit = unit_from_config(load_unit_config(args.config or Path("deploy/config/unit.example.yaml")))
    year = simulate_year(unit, args.start, args.end, args.change_date, args.seed)
    report = outcome_report(
        year.data, year.roster, unit.tz, year.start, year.end, year.change_date, year.as_of
    )
    preface = tuple(line.format(seed=args.seed, b=BEFORE, a=AFTER) for line in SIMULATION_PREFACE)
    return report, preface


def _measured(args: argparse.Namespace) -> tuple[OutcomeReport, tuple[str, ...]]:
    import asyncio

    from services.assignment.main import AssignmentSettings, outcome_report_from_database
    from shared.clock import SystemClock

    settings = AssignmentSettings()
    if args.config is not None:
        settings = settings.model_copy(update={"unit_config_path": args.config})
    report = asyncio.run(
        outcome_report_from_database(settings, args.start, args.end, args.change_date, SystemClock().now())
    )
    preface = ("Measured from assignment's database: the records as they stand, nothing invented.", "")
    return report, preface
