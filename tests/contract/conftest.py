"""Fixtures shared by the contract suites: each runs one set of tests on the in-memory fake and on
Postgres, so the fake cannot drift from the adapter it stands in for."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from services.assignment.adapters.memory import InMemoryAssignmentUnitOfWork
from services.assignment.adapters.memory_stores import AssignmentTables
from services.assignment.adapters.postgres import PostgresAssignmentUnitOfWork
from shared.clock import FixedClock
from tests.assignment_support import T0
from tests.conftest import migrated_pool


@pytest.fixture(params=["memory", "postgres"])
async def assignment_uow(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], Any]]:
    """New assignment units of work over one store: the fake's tables (clock at T0) or a freshly
    migrated Postgres database."""
    if request.param == "memory":
        tables = AssignmentTables()
        yield lambda: InMemoryAssignmentUnitOfWork(tables, FixedClock(T0))
        return
    server = request.getfixturevalue("postgres_server")
    async with migrated_pool(server, "services.assignment.migrations", "assignment") as pool:
        yield lambda: PostgresAssignmentUnitOfWork(pool)
