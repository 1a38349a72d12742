"""Re-encrypt every stored personal detail under the newest key: `python -m services.intake.rekey`.

Run it after adding a new key and making it `CRYPTO__CURRENT_KEY`; once it reports 0 rows left,
the old key can be removed from `CRYPTO__KEYS`. Safe to run again or in parallel.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

import asyncpg

from services.intake.main import SERVICE, IntakeSettings, build_secrets
from services.intake.postgres import reencrypt_batch
from shared import db
from shared.crypto import Cipher
from shared.logging import configure_logging

log = logging.getLogger(__name__)


async def reencrypt_all(pool: asyncpg.Pool, cipher: Cipher, batch_size: int = 200) -> int:
    """Re-encrypt rows in batches until none is left under an old key; return how many."""
    total = 0
    while True:
        async with pool.acquire() as conn:
            done = await reencrypt_batch(conn, cipher, batch_size)
        total += done
        if done == 0:
            return total
        log.info("re-encrypted a batch", extra={"rows": done, "total": total})


async def _run(batch_size: int) -> int:
    settings = IntakeSettings()
    cipher = build_secrets(settings.crypto).cipher
    pool = await db.create_pool(settings.database, SERVICE)
    try:
        await db.apply_migrations(pool, SERVICE, "services.intake.migrations")
        return await reencrypt_all(pool, cipher, batch_size)
    finally:
        await pool.close()


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch-size", type=int, default=200)
    args = parser.parse_args()
    settings = IntakeSettings()
    configure_logging(f"{SERVICE}-rekey", settings.log.level)
    total = asyncio.run(_run(args.batch_size))
    log.info("re-encryption finished", extra={"rows": total, "current_key": settings.crypto.current_key})


if __name__ == "__main__":
    main()
