"""Import Open ePlatform instances that failed (unmappable, invalid, a file too large) from their
kept raw documents, through the mapping as configured now: `python -m services.intake.oep_remap
[--flow-instance-id N]`.

Fix the mapping (OEP__MAPPING_PATH) or the limit first, then run this with the service's settings.
An instance is stored under its portal instance id, so it never becomes a second referral, however
often this runs or the poller meets the instance again. Exit status 1 while some still fail.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from services.intake.main import SERVICE, IntakeSettings, remap_open_eplatform
from shared.clock import SystemClock
from shared.logging import configure_logging

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point: settings from the environment, like the service's."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--flow-instance-id", type=int, default=None, help="only this instance")
    args = parser.parse_args(argv)
    settings = IntakeSettings()
    configure_logging(f"{SERVICE}-oep-remap", settings.log.level)
    outcome = asyncio.run(remap_open_eplatform(settings, SystemClock(), args.flow_instance_id))
    log.info(
        "open eplatform re-mapping finished",
        extra={"imported": outcome.imported, "still_failing": sorted(outcome.failing)},
    )
    for iid, reason in sorted(outcome.failing.items()):
        print(f"{iid}: {reason}", file=sys.stderr)  # tags and paths only, never answers
    return 1 if outcome.failing else 0


if __name__ == "__main__":
    sys.exit(main())
