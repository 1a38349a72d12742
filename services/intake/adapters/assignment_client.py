"""Assignment's staff API as intake asks it for a referral's freshest state
(`GET /v1/referrals/{id}`, CONTRACTS.md §3), with the reader's own bearer token."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from services.intake.domain.dossier import Projection
from services.intake.domain.dossier_access import Assignment
from services.intake.ports import AssignmentUnreachable


class AssignmentClient:
    """The `AssignmentState` port over HTTP; a short timeout, since a reader waits."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def current(self, referral_id: str, bearer_token: str) -> Projection | None:
        """The referral's state; None when assignment has none or refuses the reader;
        AssignmentUnreachable on a timeout, a lost connection or a 5xx."""
        try:
            response = await self._http.get(
                f"/v1/referrals/{referral_id}", headers={"authorization": f"Bearer {bearer_token}"}
            )
        except httpx.HTTPError as exc:
            raise AssignmentUnreachable(type(exc).__name__) from exc
        if response.status_code >= 500:
            raise AssignmentUnreachable(f"status {response.status_code}")
        if response.status_code != 200:
            return None
        try:
            return projection(response.json())
        except (ValueError, KeyError, TypeError) as exc:
            raise AssignmentUnreachable("unreadable answer") from exc


def projection(state: dict[str, Any]) -> Projection:
    """Assignment's referral state as a projection."""
    deadlines = state.get("deadlines") or {}

    def due(name: str) -> datetime | None:
        deadline = deadlines.get(name)
        return datetime.fromisoformat(deadline["due_at"]) if deadline else None

    protection = deadlines.get("protection_assessment") or {}
    assessed = protection.get("met_at") is not None or state.get("protection_outcome") is not None
    return Projection(
        assignment=Assignment(str(state["team"]), str(state["caseworker"]), state.get("mentor")),
        status=state.get("status"),
        protection_assessed=assessed,
        protection_assessment_due=due("protection_assessment"),
        preliminary_assessment_due=due("preliminary_assessment"),
        investigation_due=due("investigation"),
        feedback_due=due("reporter_feedback"),
    )
