"""Team locks against real Postgres: every writer of `assignments` takes its teams' locks first,
all at once and in one order, so assignment instances and managers' actions wait for each other
instead of deadlocking (Postgres would abort one of them; it would be retried, but a manager
would see an error and an instance would lose a second).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest

from services.assignment.adapters.postgres import PostgresAssignmentUnitOfWork
from services.assignment.domain.cases import CaseAction
from services.assignment.handlers.assign import assign_referrals
from services.assignment.handlers.cases import act_on_case
from services.assignment.subscribers import referral_message
from shared.db import Conn
from shared.events import Envelope
from tests.assignment_support import UNIT, assign, assign_batch, local, received
from tests.integration.test_assignment_postgres import HEAD, pool

TEAM_A_DAY = local(2026, 9, 22, 10, 0)  # a Tuesday: team-a on duty
TEAM_B_DAY = local(2026, 10, 6, 10, 0)  # a Tuesday: team-b on duty
__all__ = ["pool"]  # the fixture, used here


async def assign_alone(pool: asyncpg.Pool, run: Sequence[Envelope[Any]]) -> None:
    """One assignment instance's transaction for a run, as its consumer opens it."""
    await assign_batch(pool, run)


class ManagersUnitOfWork(PostgresAssignmentUnitOfWork):
    """A unit of work that tells which server process its transaction runs in."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self.began = asyncio.Event()
        self.pid = 0

    def _bind(self, conn: Conn) -> None:
        self.pid = conn.get_server_pid()
        self.began.set()


async def test_runs_reaching_two_teams_in_opposite_orders_never_deadlock(pool):
    """Two instances, each with a run whose referrals came in on team-a's and team-b's duty, in
    opposite orders. Locking each team as the run reached it, one held team-a and waited for
    team-b while the other held team-b and waited for team-a: Postgres aborted one with a
    deadlock in every trial (12 of 12 on the code before this test)."""
    failures: list[BaseException] = []
    for trial in range(12):
        one = [received(f"X{trial}-a", at=TEAM_A_DAY), received(f"X{trial}-b", at=TEAM_B_DAY)]
        other = [received(f"Y{trial}-b", at=TEAM_B_DAY), received(f"Y{trial}-a", at=TEAM_A_DAY)]
        results = await asyncio.gather(
            assign_alone(pool, one), assign_alone(pool, other), return_exceptions=True
        )
        failures += [r for r in results if isinstance(r, BaseException)]

    assert failures == []
    rows = await pool.fetch("SELECT referral_id, team FROM assignments")
    assert len(rows) == 48
    assert all(r["team"] == "team-" + r["referral_id"][-1] for r in rows)


async def waits_for_a_lock(pool: asyncpg.Pool, pid: int, action: asyncio.Task[None]) -> bool:
    """Whether the backend `pid` comes to wait for a lock while `action` is still running."""
    for _ in range(500):
        if action.done():
            return False
        waiting = await pool.fetchval(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid
        )
        if waiting:
            return True
        await asyncio.sleep(0.02)
    raise AssertionError("the action neither finished nor waited for a lock")


@pytest.mark.parametrize(
    ("case_day", "action"),
    [
        # A team-a case moved to a team-b caseworker: the loads of both teams change.
        (TEAM_A_DAY, CaseAction("reassign", HEAD, TEAM_B_DAY, caseworker="cw-b2", reason="x")),
        # A team-b case acknowledged: its status changes, and with it the trigger's load rows.
        (TEAM_B_DAY, CaseAction("acknowledge", HEAD, TEAM_B_DAY)),
    ],
    ids=["reassign into the team", "acknowledge in the team"],
)
async def test_a_managers_action_waits_for_the_team_lock_that_an_assignment_run_holds(pool, case_day, action):
    earlier = await assign(pool, received("R-1", at=case_day))
    manager = ManagersUnitOfWork(pool)
    async with PostgresAssignmentUnitOfWork(pool) as instance:
        # holds team-b's lock
        await assign_referrals(instance, UNIT, [referral_message(received("R-2", at=TEAM_B_DAY))])
        taken = await instance.conn.fetchval("SELECT caseworker FROM assignments WHERE referral_id = 'R-2'")
        # Neither R-1's caseworker nor the new one: the action would wait for R-2's row of
        # `caseworker_loads`, not the team's lock, if the action did not take the latter.
        assert taken not in (earlier["caseworker"], action.caseworker)

        acting = asyncio.create_task(act_on_case(manager, UNIT, "R-1", action, TEAM_B_DAY))
        try:
            await asyncio.wait_for(manager.began.wait(), timeout=10)
            assert await waits_for_a_lock(pool, manager.pid, acting)
        finally:
            await instance.commit()
    await acting

    loads = await pool.fetch(
        "SELECT team, caseworker, weighted_hundredths, open_cases FROM caseworker_loads ORDER BY 1, 2"
    )
    recount = await pool.fetch(
        "SELECT team, caseworker, sum(weight_hundredths) AS weighted, count(*) AS open_cases FROM assignments"
        " WHERE status <> 'closed' GROUP BY 1, 2 HAVING count(*) > 0 ORDER BY 1, 2"
    )
    assert [tuple(r) for r in loads if r["open_cases"]] == [tuple(r) for r in recount]
