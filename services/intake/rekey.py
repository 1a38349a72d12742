"""Re-encrypt every stored personal detail (the details, the documents kept with submissions and
the kept raw documents of failed Open ePlatform instances) under the newest key:
`python -m services.intake.rekey`.

Run it after adding a new key and making it `CRYPTO__CURRENT_KEY`; once it reports 0 rows left,
the old key can be removed from `CRYPTO__KEYS`. Safe to run again or in parallel.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from services.intake.main import SERVICE, IntakeSettings, reencrypt_stored_details
from shared.logging import configure_logging

log = logging.getLogger(__name__)


def main() -> None:
    """Command line entry point: settings from the environment, like the service's."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch-size", type=int, default=200)
    args = parser.parse_args()
    settings = IntakeSettings()
    configure_logging(f"{SERVICE}-rekey", settings.log.level)
    total = asyncio.run(reencrypt_stored_details(settings, args.batch_size))
    log.info("re-encryption finished", extra={"rows": total, "current_key": settings.crypto.current_key})


if __name__ == "__main__":
    main()
