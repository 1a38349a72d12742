"""Helpers for the dossier tests (no tests here): the unit's positions, a fake assignment staff
API, and a referral stored through the real use case (so its details decrypt)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from services.intake.domain.dossier import Assigned, Projection, Updated
from services.intake.domain.dossier_access import Assignment, Organisation, Reader
from services.intake.domain.submissions import Document
from services.intake.handlers.access_projection import project_assignments, project_updates
from services.intake.handlers.dossier import Attempt, Dossiers
from services.intake.handlers.submissions import receive_submission
from services.intake.ports import AssignmentUnreachable, IntakeUnitOfWork
from tests.factories import submission as submission_body
from tests.intake_fakes import NOW, as_received, clock, keys

ORG = Organisation(
    managers={"team-a": "mgr-a", "team-b": "mgr-b", "team-c": "mgr-c"},
    head_of_unit="head",
    intake_group=frozenset({"in-1", "in-2", "in-3", "in-4"}),
)
# The referral of these tests: team-a, caseworker cw-a5, whose mentor is cw-a1.
ASSIGNED = Assigned("", "team-a", "cw-a5", "cw-a1", NOW + timedelta(hours=5), NOW + timedelta(days=14))


@dataclass
class FakeAssignment:
    """Assignment's staff API: a state per referral, or unreachable; records who asked."""

    states: dict[str, Projection] = field(default_factory=dict)
    unreachable: bool = False
    asked: list[tuple[str, str]] = field(default_factory=list)

    async def current(self, referral_id: str, bearer_token: str) -> Projection | None:
        self.asked.append((referral_id, bearer_token))
        if self.unreachable:
            raise AssignmentUnreachable("timeout")
        return self.states.get(referral_id)


def assigned_state(
    caseworker: str = "cw-a5", team: str = "team-a", mentor: str | None = "cw-a1"
) -> Projection:
    """Assignment's state of a referral just assigned."""
    return Projection(Assignment(team, caseworker, mentor), "assigned", False)


def dossiers(
    unit_of_work: Callable[[], IntakeUnitOfWork], assignment: FakeAssignment | None = None
) -> Dossiers:
    """The use cases' dependencies over a unit of work factory, at NOW."""
    return Dossiers(unit_of_work, ORG, keys().cipher, assignment or FakeAssignment(), clock(), 4.0)


def attempt(staff: str, *roles: str, referral_id: str, token: str = "token-of-reader") -> Attempt:
    """A request of `staff` with `roles`."""
    return Attempt(Reader(staff, frozenset(roles)), referral_id, token, "127.0.0.1", f"req-{staff}")


def form(protected: bool = False, seed: int = 7, children: int = 1) -> dict[str, Any]:
    """A portal body (synthetic data), the first child protected if asked."""
    body = submission_body(random.Random(seed), children=children, submitted_at=NOW - timedelta(hours=2))
    body["children"][0]["protected_identity"] = protected
    return body


async def store_referral(
    unit_of_work: Callable[[], IntakeUnitOfWork], body: dict[str, Any], documents: Sequence[Document] = ()
) -> list[str]:
    """Receive the body as the portal API does (with `documents`, as the Open ePlatform import
    keeps its original); the referral ids, by child."""
    submission, raw = as_received(body)
    received = await receive_submission(
        unit_of_work(), submission, raw, "dev-portal", keys(), clock(), documents
    )
    return [r.referral_id for r in received.receipt.referrals]


async def project(
    unit_of_work: Callable[[], IntakeUnitOfWork], referral_id: str, *, assessed: bool = False
) -> None:
    """The referral assigned as ASSIGNED says (and protection-assessed, if asked)."""
    async with unit_of_work() as uow:
        await project_assignments(uow, [Assigned(referral_id, *_fields(ASSIGNED))])
        if assessed:
            await project_updates(uow, [Updated(referral_id, "protection_assessed", True, None, None)])
        await uow.commit()


def _fields(a: Assigned) -> tuple[Any, ...]:
    return (a.team, a.caseworker, a.mentor, a.protection_assessment_due, a.preliminary_assessment_due)


# Every role × relation (issue 19, "Show" point 1): (staff, roles, state of the referral) → answer.
DENIED = ("denied", "none", "denied")
TABLE = [
    ("assigned caseworker", "cw-a5", ("caseworker",), "assigned", ("read", "assigned", "allowed")),
    ("mentor", "cw-a1", ("caseworker",), "assigned", ("read", "mentor", "allowed")),
    ("same-team caseworker", "cw-a2", ("caseworker",), "assigned", DENIED),
    ("other-team caseworker", "cw-b2", ("caseworker",), "assigned", DENIED),
    ("manager of the team", "mgr-a", ("manager",), "assigned", ("read", "team_manager", "allowed")),
    ("manager of another team", "mgr-b", ("manager",), "assigned", DENIED),
    ("head of unit", "head", ("head_of_unit",), "assigned", ("read", "head_of_unit", "allowed")),
    ("intake before registration", "in-1", ("intake",), "assigned", ("read", "intake", "allowed")),
    ("intake after registration and assessment", "in-1", ("intake",), "registered+assessed", DENIED),
    ("intake registered, not yet assessed", "in-2", ("intake",), "registered", ("read", "intake", "allowed")),
    ("partner", "partner-1", ("partner",), "assigned", DENIED),
    ("no roles at all", "cw-a5", (), "assigned", DENIED),
    ("caseworker's id with the manager role", "cw-a5", ("manager",), "assigned", DENIED),
    ("break-glass holder", "cw-c3", ("caseworker",), "break-glass", ("read", "break_glass", "allowed")),
    ("intake before assignment", "in-3", ("intake",), "unassigned", ("read", "intake", "allowed")),
    (
        "head of unit before assignment",
        "head",
        ("head_of_unit",),
        "unassigned",
        ("read", "head_of_unit", "allowed"),
    ),
    ("manager before assignment", "mgr-a", ("manager",), "unassigned", DENIED),
]
