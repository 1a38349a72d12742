"""Retention benchmark (issue 23): the retention job and the re-wrapping rekey over N referrals.

Run: `python -m bench.retention --count 10000` (prints the figures; not run by `make test`).

Starts its own Postgres (fsync on). Seeds N one-child submissions through intake's own use case and
Postgres adapters (details sealed under a data key each), registers every referral (half of them
60 days before the run, half 10), then times, against a 30-day plan with the research sample
(5th, 15th, 25th) held: the dry run, the real run (keys destroyed and log written in one
transaction), and `reencrypt_all` re-wrapping the remaining data keys under a new key.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from pydantic import SecretStr

from referral_router.devinfra.postgres import LocalPostgres
from referral_router.devinfra.procs import free_port
from referral_router.synthetic_data import submission as synthetic_submission
from services.intake.adapters.postgres import PostgresIntakeUnitOfWork
from services.intake.domain.dossier import Registration
from services.intake.domain.retention import Keep, RetentionPlan
from services.intake.handlers.retention import Retaining, run_retention
from services.intake.handlers.submissions import IntakeSecrets, reencrypt_all, store_submission
from services.intake.main import MIGRATIONS, SERVICE
from services.intake.schemas import Submission, validation_context
from shared import db
from shared.clock import FixedClock
from shared.crypto import Cipher
from shared.settings import DatabaseSettings

KEY_1, KEY_2 = bytes(range(32)), bytes(range(32, 64))
PLAN = RetentionPlan(30, frozenset({5, 15, 25}))


async def seed(pool: asyncpg.Pool, count: int, now: datetime, keys: IntakeSecrets) -> None:
    rng, clock, context = random.Random(23), FixedClock(now), validation_context(now)
    for n in range(count):
        body = synthetic_submission(rng, children=1, submission_id=f"bench-{n}")
        raw = json.dumps(body, ensure_ascii=False).encode()
        form = Submission.model_validate_json(raw, context=context).to_domain()
        async with PostgresIntakeUnitOfWork(pool) as uow:
            received = await store_submission(uow, form, raw, "bench-portal", keys, clock)
            await uow.commit()
        rid = received.receipt.referrals[0].referral_id
        at = now - timedelta(days=60 if n % 2 else 10)
        async with PostgresIntakeUnitOfWork(pool) as uow:
            await uow.dossiers.register(rid, Registration(f"B-{n}", at, "in-1", at))
            await uow.commit()


async def measure(database_url: str, count: int) -> dict[str, float]:
    pool = await db.create_pool(DatabaseSettings(url=SecretStr(database_url)), SERVICE)
    try:
        await db.apply_migrations(pool, SERVICE, MIGRATIONS)
        now = datetime.now(UTC)
        keys = IntakeSecrets(Cipher({"k1": KEY_1}, "k1"), b"bench-pepper")
        await seed(pool, count, now, keys)
        async with pool.acquire() as conn:
            await conn.execute("VACUUM ANALYZE")
        retaining = Retaining(lambda: PostgresIntakeUnitOfWork(pool), PLAN, keys.cipher, FixedClock(now))
        figures: dict[str, float] = {"referrals": count}
        started = time.perf_counter()
        dry = await run_retention(retaining, dry_run=True)
        figures["dry_run_s"] = time.perf_counter() - started
        started = time.perf_counter()
        real = await run_retention(retaining, dry_run=False)
        figures["real_run_s"] = time.perf_counter() - started
        assert [e.referral_id for e in dry.erased] == [e.referral_id for e in real.erased]
        figures["erased"] = len(real.erased)
        figures["kept_research_sample"] = real.kept.get(Keep.RESEARCH_SAMPLE, 0)
        rotated = Cipher({"k1": KEY_1, "k2": KEY_2}, "k2")
        started = time.perf_counter()
        figures["rewrapped"] = await reencrypt_all(lambda: PostgresIntakeUnitOfWork(pool), rotated, 200)
        figures["rekey_s"] = time.perf_counter() - started
        return figures
    finally:
        await pool.close()


def main() -> None:
    """Command line: `--count N`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-retention-") as root:
        pg = LocalPostgres(Path(root) / "pg", free_port(), fsync=True)
        try:
            url = pg.start()
            print(json.dumps(asyncio.run(measure(url, args.count)), indent=2))
        finally:
            pg.stop("fast")


if __name__ == "__main__":
    main()
