"""A legal hold set while the retention job starts is never missed (Postgres: the job weighs under a
SHARE lock on `legal_holds`, so it waits for a hold being set to commit, then sees it)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from services.intake.adapters.postgres import PostgresIntakeUnitOfWork
from services.intake.domain.dossier import Registration
from services.intake.domain.retention import HoldScope, Keep, RetentionPlan
from services.intake.handlers.retention import Retaining, run_retention
from services.intake.ports import Hold
from shared.clock import FixedClock
from tests.conftest import migrated_pool
from tests.dossier_support import form, store_referral
from tests.helpers import eventually
from tests.intake_fakes import NOW, keys


async def test_a_hold_committed_while_the_job_waits_for_it_keeps_the_referral(postgres_server):
    async with migrated_pool(postgres_server, "services.intake.migrations", schema="intake") as pool:

        def uow() -> PostgresIntakeUnitOfWork:
            return PostgresIntakeUnitOfWork(pool)

        [rid] = await store_referral(uow, form())
        registered = NOW - timedelta(days=40)
        async with uow() as work:
            await work.dossiers.register(rid, Registration("SoL-1", registered, "in-1", registered))
            tracked = await work.dossiers.find(rid, "head", NOW)
            await work.commit()
        assert tracked is not None
        retaining = Retaining(uow, RetentionPlan(30), keys().cipher, FixedClock(NOW))

        async with uow() as holding:  # a manager's hold, inserted, not yet committed
            hold = Hold(HoldScope.REFERRAL, rid, tracked.referral.child_key, "Tvist, behåll", "mgr-a", NOW)
            await holding.retention.set_hold(hold)
            run = asyncio.create_task(run_retention(retaining, dry_run=False))
            await eventually(lambda: _waiting_on_a_lock(pool), bool, timeout_s=20, interval_s=0.05)
            assert not run.done()
            await holding.commit()
        report = await run

        assert report.erased == () and report.kept == {Keep.LEGAL_HOLD: 1}
        async with uow() as work:
            assert (await work.data_keys.get(tracked.referral.submission_id)).wrapped is not None


async def _waiting_on_a_lock(pool) -> bool:
    found = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND query LIKE 'LOCK TABLE legal_holds%'"
    )
    return bool(found)
