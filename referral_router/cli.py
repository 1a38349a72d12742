"""The `referral-router` command."""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from pathlib import Path

from referral_router.outcome_cli import add_report_parser, plots_unavailable
from referral_router.stack import DEV_WEB_CLIENT_ID
from referral_router.tokens import dev_token

# The roles a token may carry, as shared.staff_auth.KNOWN_ROLES (partners included, issue 22).
ROLES = ("caseworker", "intake", "manager", "head_of_unit", "system", "partner")


def _token(args: argparse.Namespace) -> int:
    print(dev_token(args.sub, args.role, args.ttl, args.aud, args.iss))
    return 0


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _dev(args: argparse.Namespace) -> int:
    from referral_router.dev import DevOptions, run_dev

    options = DevOptions(
        kafka=args.kafka,
        rate=None if args.no_simulator else args.rate,
        accelerate=args.accelerate,
        backdate=timedelta(days=args.backdate_days),
        seed=args.seed,
        plain=args.plain,
        screenshot=args.screenshot,
        screenshot_after_s=args.screenshot_after,
    )
    return run_dev(options)


def _dev_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dev = sub.add_parser("dev", help="run the whole system locally (what `make run` runs)")
    dev.add_argument("--no-simulator", action="store_true", help="do not submit simulated referrals")
    dev.add_argument("--rate", type=_positive, default=0.2, help="simulated submissions per second (0.2)")
    dev.add_argument(
        "--accelerate",
        type=_positive,
        default=1.0,
        metavar="F",
        help="run the simulator's clock F times faster, starting --backdate-days in the past "
        "(back-dated submitted_at; e.g. 5000 passes a 14-day rotation period in 4 minutes)",
    )
    dev.add_argument(
        "--backdate-days",
        type=_positive,
        default=42.0,
        metavar="D",
        help="with --accelerate: where the simulated clock starts (42 days = three rotation periods)",
    )
    dev.add_argument("--seed", type=int, default=None, help="seed of the simulator (repeatable runs)")
    dev.add_argument(
        "--plain", action="store_true", help="print a summary line every 5 s instead of the live view"
    )
    dev.add_argument(
        "--kafka",
        choices=("tansu", "apache"),
        default="tansu",
        help="the broker: tansu (default, bundled) or apache (needs Java 17, and Maven once to fetch jars)",
    )
    # For the docs: save the live view as SVG after N seconds of a real run, then stop.
    dev.add_argument("--screenshot", type=Path, default=None, help=argparse.SUPPRESS)
    dev.add_argument("--screenshot-after", type=_positive, default=30.0, help=argparse.SUPPRESS)
    dev.set_defaults(run=_dev)


def _simulate(args: argparse.Namespace) -> int:
    from referral_router.policy_report import write_report
    from referral_router.policy_simulation import POLICIES, compare

    if plots_unavailable("simulate"):
        return 2

    c = compare(args.days, tuple(args.policy or POLICIES), args.seed, args.config)
    report = write_report(c.unit, c.outcomes, c.without_absences, c.days, args.out, c.referrals)
    print(report.read_text("utf-8"))
    return 0


def _anchor(text: str) -> tuple[int, bytes]:
    """`SEQ:HASH` (the hash as 64 hex digits) as given by the monthly access review."""
    seq, _, digest = text.partition(":")
    try:
        parsed = (int(seq), bytes.fromhex(digest))
    except ValueError:
        parsed = (0, b"")
    if parsed[0] < 1 or len(parsed[1]) != 32:
        raise argparse.ArgumentTypeError("give SEQ:HASH, a row number and 64 hex digits")
    return parsed


def _verify_access_log(args: argparse.Namespace) -> int:
    import asyncio

    from services.intake.main import verify_stored_access_log
    from shared.settings import ServiceSettings

    check = asyncio.run(verify_stored_access_log(ServiceSettings(), dict(args.anchor or ())))
    if check.broken is not None:
        # The seq only: a row's content may be personal (a reason) and stays in the database.
        print(f"access log broken at seq {check.broken.seq}: {check.broken.kind}", file=sys.stderr)
        return 1
    print(f"access log intact: {check.checked} rows chained")
    return 0


def _oep_remap(args: argparse.Namespace) -> int:
    from services.intake import oep_remap

    return oep_remap.main(
        [] if args.flow_instance_id is None else ["--flow-instance-id", str(args.flow_instance_id)]
    )


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("give a date as YYYY-MM-DD") from None


def _statistics(args: argparse.Namespace) -> int:
    import asyncio

    from services.intake.domain.statistics_export import InvalidPeriod
    from services.intake.main import export_statistics
    from services.intake.ports import StatisticsNotKept
    from shared.settings import ServiceSettings

    if not args.out.parent.is_dir():
        print(f"referral-router statistics: no directory {args.out.parent} for --out", file=sys.stderr)
        return 2
    try:
        written = asyncio.run(
            export_statistics(ServiceSettings(), args.start, args.end, args.format, args.out, args.min_cell)
        )
    except InvalidPeriod as bad:
        print(f"referral-router statistics: {bad}", file=sys.stderr)
        return 2
    except StatisticsNotKept:
        print(
            "referral-router statistics: intake's schema has no statistics records: start intake of "
            "this release once against this database (migration 011), or check DATABASE__URL",
            file=sys.stderr,
        )
        return 2
    print(f"{written} referrals received {args.start} to {args.end} written to {args.out}")
    return 0


def _statistics_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stats = sub.add_parser(
        "statistics",
        help="write the national follow-up file (NUSO) of referrals received in a period, from "
        "intake's database (DATABASE__URL); no names or numbers, small cells suppressed",
    )
    stats.add_argument("--from", dest="start", type=_date, required=True, help="first day (YYYY-MM-DD)")
    stats.add_argument("--to", dest="end", type=_date, required=True, help="last day, included")
    stats.add_argument("--format", choices=("csv", "xlsx"), required=True)
    stats.add_argument("--out", type=Path, required=True, help="the file to write (replaced)")
    stats.add_argument(
        "--min-cell", type=int, default=5, help="the smallest group a published combination may have (5)"
    )
    stats.set_defaults(run=_statistics)


def _retention(args: argparse.Namespace) -> int:
    import asyncio

    from services.intake.main import IntakeSettings, retain_stored_details
    from shared.clock import SystemClock

    report = asyncio.run(retain_stored_details(IntakeSettings(), args.dry_run, SystemClock()))
    verb = "would erase" if report.dry_run else "erased"
    print(f"retention run {report.run_id} at {report.at.isoformat()}: {verb} {len(report.erased)} referrals")
    for e in report.erased:
        print(f"  {e.referral_id}\tsubmission {e.submission_id}\trule {e.rule}")
    for reason, n in sorted(report.kept.items()):
        print(f"  kept {n}: {reason}")
    return 0


def _incidents_summary(args: argparse.Namespace) -> int:
    import asyncio
    import csv

    from services.assignment.domain.errors import InvalidQuarter
    from services.assignment.domain.incidents import parse_quarter, summary_csv_rows, summary_markdown
    from services.assignment.main import incidents_summary
    from shared.settings import ServiceSettings

    try:
        quarter = parse_quarter(args.quarter)
    except InvalidQuarter as bad:
        print(f"referral-router incidents-summary: {bad}", file=sys.stderr)
        return 2
    summary = asyncio.run(incidents_summary(ServiceSettings(), quarter, args.team))
    if args.format == "csv":
        csv.writer(sys.stdout, lineterminator="\n").writerows(summary_csv_rows(summary))
    else:
        print(summary_markdown(summary, swedish=args.lang == "sv"), end="")
    return 0


def _incidents_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    summary = sub.add_parser(
        "incidents-summary",
        help="print a quarter's threats and violence against staff counted by type, team and channel, "
        "for occupational health, from assignment's database (DATABASE__URL); no names or ids",
    )
    summary.add_argument("--quarter", required=True, help="e.g. 2026Q3 (July to September 2026)")
    summary.add_argument("--team", default=None, help="only this team's incidents")
    summary.add_argument("--format", choices=("markdown", "csv"), default="markdown")
    summary.add_argument("--lang", choices=("sv", "en"), default="sv", help="the Markdown's headings")
    summary.set_defaults(run=_incidents_summary)


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(prog="referral-router", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    _dev_parser(sub)
    token = sub.add_parser("token", help="print a signed bearer token for the dev stack")
    token.add_argument("--sub", required=True, help="staff id from the unit config")
    token.add_argument("--role", action="append", choices=ROLES, required=True)
    token.add_argument("--ttl", type=int, default=8 * 3600, help="seconds until it expires")
    token.add_argument(
        "--aud",
        default=DEV_WEB_CLIENT_ID,
        help=f"the audience the services check (AUTH__AUDIENCE; the dev stack's is {DEV_WEB_CLIENT_ID})",
    )
    token.add_argument(
        "--iss",
        help="the issuer the services check (AUTH__ISSUER; default the dev provider's, DEV_OIDC_PORT)",
    )
    token.set_defaults(run=_token)
    sim = sub.add_parser("simulate", help="simulate N days of referrals offline; write a report with plots")
    sim.add_argument("--days", type=int, default=365)
    sim.add_argument(
        "--policy",
        action="append",
        choices=("weighted", "round_robin", "fewest_open"),
        help="policies to compare (default: all three; `weighted` is ours)",
    )
    sim.add_argument("--out", type=Path, default=Path("docs/simulation"))
    sim.add_argument("--seed", type=int, default=2026)
    sim.add_argument("--config", type=Path, default=Path("deploy/config/unit.example.yaml"))
    sim.set_defaults(run=_simulate)
    verify = sub.add_parser(
        "verify-access-log",
        help="recompute intake's access-log hash chain (DATABASE__URL); exit 1 at the first altered, "
        "missing or reordered row",
    )
    verify.add_argument(
        "--anchor",
        action="append",
        type=_anchor,
        metavar="SEQ:HASH",
        help="a row and its hash as the monthly access review gave them (repeatable): the row must "
        "still be there with that hash",
    )
    verify.set_defaults(run=_verify_access_log)
    remap = sub.add_parser(
        "oep-remap",
        help="import failed Open ePlatform instances from their kept raw documents through the mapping "
        "as configured now (intake's settings); exit 1 while some still fail",
    )
    remap.add_argument("--flow-instance-id", type=int, default=None, help="only this instance")
    remap.set_defaults(run=_oep_remap)

    _statistics_parser(sub)
    add_report_parser(sub)
    retention = sub.add_parser(
        "retention",
        help="erase the received copies due by the unit file's retention rules (crypto-shredding; "
        "intake's settings from the environment)",
    )
    retention.add_argument(
        "--dry-run", action="store_true", help="list exactly what a run now would erase; change nothing"
    )
    retention.set_defaults(run=_retention)
    _incidents_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
