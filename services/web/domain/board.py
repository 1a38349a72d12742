"""The head of unit's overview: each team's open referrals, deadlines and balance."""

from __future__ import annotations

from dataclasses import dataclass

from services.web.domain.model import QueueItem, WorkloadRow


@dataclass(frozen=True)
class TeamSummary:
    """One team on the head of unit's overview."""

    team: str
    open_referrals: int
    approaching: int
    breached: int
    imbalance: str


def team_summaries(items: list[QueueItem], workloads: list[WorkloadRow]) -> list[TeamSummary]:
    """Per team: open referrals by deadline state, and the load imbalance (highest ÷ lowest load
    per unit of capacity among caseworkers with capacity; "–" when it cannot be computed)."""
    teams = sorted({i.team for i in items} | {w.team for w in workloads})
    return [
        TeamSummary(
            team=team,
            open_referrals=sum(1 for i in items if i.team == team),
            approaching=sum(1 for i in items if i.team == team and i.deadline_state == "approaching"),
            breached=sum(1 for i in items if i.team == team and i.deadline_state == "breached"),
            imbalance=_imbalance([w for w in workloads if w.team == team]),
        )
        for team in teams
    ]


def _imbalance(rows: list[WorkloadRow]) -> str:
    shares = [w.weighted_load / w.capacity for w in rows if w.capacity > 0]
    if not shares or min(shares) <= 0:
        return "–"
    return f"{max(shares) / min(shares):.2f}"
