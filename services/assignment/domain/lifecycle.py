"""Case lifecycle: which staff actions are allowed in which status, and what status follows."""

from __future__ import annotations

from services.assignment.domain.errors import InvalidTransition

STATUSES = ("assigned", "acknowledged", "protection_assessed", "investigating", "closed")
PRE_DECISION = frozenset({"assigned", "acknowledged", "protection_assessed"})
DECISIONS = {
    "open_investigation": "investigating",
    "no_investigation": "closed",
    # The referral joins an investigation already open: it needs no investigation of its own.
    "joined_ongoing": "closed",
}


def after_action(status: str, action: str, decision: str | None = None) -> str:
    """The status after `action`, or InvalidTransition when it is not allowed now."""
    if status == "closed":
        raise InvalidTransition("the case is closed")
    if action == "acknowledge":
        return "acknowledged" if status == "assigned" else status
    if action == "protection_assessment":
        return "protection_assessed" if status in PRE_DECISION else status
    if action == "decision":
        if status not in PRE_DECISION:
            raise InvalidTransition("a decision has already been made")
        if decision not in DECISIONS:
            raise InvalidTransition(f"unknown decision {decision!r}")
        return DECISIONS[decision]
    if action in ("extend", "close"):
        if status != "investigating":
            raise InvalidTransition("there is no open investigation")
        return "closed" if action == "close" else status
    if action == "reassign":
        return status
    raise InvalidTransition(f"unknown action {action!r}")
