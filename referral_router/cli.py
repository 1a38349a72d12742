"""The `referral-router` command."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import jwt

from referral_router.stack import DEV_JWT_SECRET

ROLES = ("caseworker", "intake", "manager", "head_of_unit", "system")


def _token(args: argparse.Namespace) -> int:
    # The dev secret is fixed by the contract and short; production uses RS256 from the OIDC provider.
    warnings.filterwarnings("ignore", category=jwt.warnings.InsecureKeyLengthWarning)
    now = int(time.time())
    claims = {"sub": args.sub, "roles": args.role, "iat": now, "exp": now + args.ttl}
    print(jwt.encode(claims, DEV_JWT_SECRET, algorithm="HS256"))
    return 0


def _dev(args: argparse.Namespace) -> int:
    from referral_router.dev import run_dev

    return run_dev(args.kafka, None if args.no_simulator else args.rate)


def _simulate(args: argparse.Namespace) -> int:
    from referral_router.simulate import POLICIES, simulate

    report = simulate(args.days, tuple(args.policy or POLICIES), args.out, args.seed, args.config)
    print(report.read_text("utf-8"))
    return 0


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(prog="referral-router", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev", help="run the whole system locally (what `make run` runs)")
    dev.add_argument("--no-simulator", action="store_true", help="do not submit simulated referrals")
    dev.add_argument("--rate", type=float, default=0.2, help="simulated referrals per second")
    dev.add_argument("--kafka", choices=("tansu", "apache"), default="tansu")
    dev.set_defaults(run=_dev)
    token = sub.add_parser("token", help="print a signed bearer token for the dev stack")
    token.add_argument("--sub", required=True, help="staff id from the unit config")
    token.add_argument("--role", action="append", choices=ROLES, required=True)
    token.add_argument("--ttl", type=int, default=8 * 3600, help="seconds until it expires")
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
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
