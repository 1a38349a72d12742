"""HTTP edge of assignment: the staff API (CONTRACTS.md §3).

Module-level routers (`rotation`, `queues`, `referrals`) whose dependencies come from `app.state.assignment`
(`AssignmentApi`, set by `main.py`); domain exceptions become problem details here and nowhere
else (`problems.py`).
"""

from __future__ import annotations

from fastapi import APIRouter

from services.assignment.api.calendar_feeds import router as feeds_router
from services.assignment.api.dependencies import AssignmentApi
from services.assignment.api.incidents import router as incidents_router
from services.assignment.api.meetings import router as meetings_router
from services.assignment.api.outcome import router as outcome_router
from services.assignment.api.overload import router as overload_router
from services.assignment.api.problems import add_domain_problem_handlers
from services.assignment.api.queues import router as queues_router
from services.assignment.api.referrals import router as referrals_router
from services.assignment.api.rotation import router as rotation_router
from services.assignment.api.safety import router as safety_router

ROUTERS: tuple[APIRouter, ...] = (
    rotation_router,
    feeds_router,
    queues_router,
    referrals_router,
    safety_router,
    incidents_router,
    meetings_router,
    overload_router,
    outcome_router,
)

__all__ = ["ROUTERS", "AssignmentApi", "add_domain_problem_handlers"]
