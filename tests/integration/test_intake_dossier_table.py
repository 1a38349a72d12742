"""Every role × relation of the dossier (issue 19, "Show" point 1) on real Postgres: each reader
gets the dossier or a refusal, and the access log gets exactly its one row, chained."""

from __future__ import annotations

import pytest

from services.intake.adapters.postgres import PostgresIntakeUnitOfWork
from services.intake.domain.access_chain import ChainCheck
from services.intake.domain.dossier import AccessRefused
from services.intake.handlers import dossier
from tests.conftest import migrated_pool
from tests.dossier_support import (
    DENIED,
    TABLE,
    FakeAssignment,
    assigned_state,
    attempt,
    dossiers,
    form,
    project,
    store_referral,
)
from tests.intake_fakes import NOW


@pytest.mark.parametrize(("who", "staff", "roles", "state", "row"), TABLE, ids=[t[0] for t in TABLE])
async def test_each_role_and_relation_reads_or_is_refused_with_exactly_its_access_log_row(
    postgres_server, who, staff, roles, state, row
):
    async with migrated_pool(postgres_server, "services.intake.migrations", schema="intake") as pool:
        uow = lambda: PostgresIntakeUnitOfWork(pool)  # noqa: E731
        [rid] = await store_referral(uow, form())
        if state != "unassigned":
            await project(uow, rid, assessed="assessed" in state)
        deps = dossiers(uow, FakeAssignment({} if state == "unassigned" else {rid: assigned_state()}))
        if "registered" in state:
            await dossier.register(deps, attempt("in-4", "intake", referral_id=rid), "BoU-2026-1", NOW)
        if state == "break-glass":
            await dossier.break_glass(deps, attempt(staff, *roles, referral_id=rid), "Akut ärende i jouren")
        before = await pool.fetchval("SELECT count(*) FROM access_log")

        if row == DENIED:
            with pytest.raises(AccessRefused):
                await dossier.read_dossier(deps, attempt(staff, *roles, referral_id=rid))
        else:
            assert (await dossier.read_dossier(deps, attempt(staff, *roles, referral_id=rid)))[
                "referral_id"
            ] == rid

        rows = await pool.fetch(
            "SELECT staff, role, referral_id, child_key, action, relation, outcome, request_id"
            " FROM access_log WHERE seq > $1 ORDER BY seq",
            before,
        )
        child_key = await pool.fetchval("SELECT child_key FROM referrals WHERE referral_id = $1", rid)
        async with uow() as check_uow:
            chain = await check_uow.access_log.chain(0, 100)

    assert [(r["action"], r["relation"], r["outcome"]) for r in rows] == [row]
    assert (rows[0]["staff"], rows[0]["role"], rows[0]["referral_id"]) == (
        staff,
        ",".join(sorted(roles)),
        rid,
    )
    assert (rows[0]["child_key"], rows[0]["request_id"]) == (child_key, f"req-{staff}")
    assert ChainCheck().feed(chain) is None
