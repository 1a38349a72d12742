"""Choosing a caseworker in the team on duty: fewest open cases, then least recently assigned."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from services.assignment.domain.model import Candidate, Choice

_NEVER = datetime.min.replace(tzinfo=UTC)


class NoCandidate(Exception):
    """Nobody in the team can take the referral."""


def select_caseworker(candidates: Sequence[Candidate]) -> Choice:
    """The candidate with the fewest open cases; ties go to whoever waited longest."""
    if not candidates:
        raise NoCandidate("no available caseworker in the team")
    best = min(
        candidates,
        key=lambda c: (c.open_cases, c.last_assigned_at or _NEVER, c.staff_id),
    )
    others = [c.open_cases for c in candidates if c is not best]
    explanation = f"fewest open cases in the team on duty ({best.open_cases}" + (
        f"; others {min(others)}-{max(others)})" if others else ")"
    )
    return Choice(best.staff_id, best.mentor, explanation)
