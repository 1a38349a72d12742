"""Case lifecycle use cases behind the staff API: load under lock → domain rule → save + outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from services.assignment import postgres
from services.assignment.domain.deadlines import END_OF_DAY, feedback_due, investigation_due
from services.assignment.domain.lifecycle import InvalidTransition, after_action
from services.assignment.domain.workload import is_new_hire
from services.assignment.handlers import PRODUCER, AssignmentContext
from shared.db import Conn
from shared.events import (
    TOPIC_ASSIGNED,
    TOPIC_UPDATED,
    Deadlines,
    ReferralAssigned,
    ReferralUpdated,
    new_envelope,
    outbox_row,
)
from shared.http import ApiProblem
from shared.outbox import PostgresOutbox
from shared.staff_auth import Principal

EVENT_TYPES = {
    "acknowledge": "referral.acknowledged",
    "protection_assessment": "referral.protection_assessed",
    "decision": "referral.decided",
    "extend": "investigation.extended",
    "close": "investigation.closed",
}
FUTURE_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class Action:
    """A staff member's action on a referral."""

    referral_id: str
    name: str
    by: Principal
    at: datetime
    outcome: str | None = None
    decision: str | None = None
    until: date | None = None
    caseworker: str | None = None
    reason: str | None = None


async def load_for_update(conn: Conn, referral_id: str) -> asyncpg.Record:
    """The assignment row, locked for this transaction; 404 when there is none."""
    row = await conn.fetchrow("SELECT * FROM assignments WHERE referral_id = $1 FOR UPDATE", referral_id)
    if row is None:
        raise ApiProblem(404, "Not found", "no assignment for this referral")
    return row


async def apply(conn: Conn, ctx: AssignmentContext, action: Action, now: datetime) -> None:
    """Check the transition, store it and its event, in the caller's transaction."""
    row = await load_for_update(conn, action.referral_id)
    if action.at > now + FUTURE_SLACK or action.at < row["received_at"]:
        raise ApiProblem(422, "Invalid time", "`at` must lie between receipt and now")
    try:
        status = after_action(row["status"], action.name, action.decision)
    except InvalidTransition as exc:
        raise ApiProblem(409, "Conflict", str(exc)) from None
    # Every change below moves a caseworker's load (the trigger of migration 003), as assignment
    # does: take the teams' locks as assignment takes them, so the two never deadlock.
    moved_to = {w.team for w in ctx.staff if action.name == "reassign" and w.staff_id == action.caseworker}
    await postgres.lock_teams(conn, {row["team"]} | moved_to)
    if action.name == "reassign":
        await _reassign(conn, ctx, row, action)
        return
    changes = _changes(ctx, row, action, status)
    sets = ", ".join(f"{column} = ${i}" for i, column in enumerate(changes, start=2))
    await conn.execute(
        f"UPDATE assignments SET {sets} WHERE referral_id = $1", action.referral_id, *changes.values()
    )
    if action.name == "extend":
        await conn.execute(
            "INSERT INTO investigation_extensions (referral_id, decided_on, decided_by, new_due, reason)"
            " VALUES ($1, $2, $3, $4, $5)",
            action.referral_id,
            action.at.astimezone(ctx.tz).date(),
            action.by.sub,
            changes["investigation_due"],
            action.reason or "",
        )
    data = ReferralUpdated(
        referral_id=action.referral_id,
        family_key=row["family_key"],
        status=status,
        at=action.at,
        by=action.by.sub,
        outcome=action.outcome,
        decision=action.decision,
        until=action.until,
        investigation_due=changes.get("investigation_due"),
        feedback_due=changes.get("feedback_due"),
    )
    envelope = new_envelope(
        EVENT_TYPES[action.name], data, producer=PRODUCER, correlation_id=action.referral_id
    )
    await PostgresOutbox(conn).add([outbox_row(TOPIC_UPDATED, envelope)])


def _changes(ctx: AssignmentContext, row: asyncpg.Record, action: Action, status: str) -> dict[str, Any]:
    changes: dict[str, Any] = {"status": status}
    if action.name == "acknowledge":
        changes["acknowledged_at"] = row["acknowledged_at"] or action.at
    elif action.name == "protection_assessment":
        changes |= {"protection_assessed_at": action.at, "protection_outcome": action.outcome}
    elif action.name == "decision":
        changes |= {"decided_at": action.at, "decision": action.decision}
        if action.decision == "open_investigation":
            opened = action.at.astimezone(ctx.tz).date()
            due = investigation_due(opened, ctx.tz, ctx.deadlines)
            changes |= {"investigation_opened_on": opened, "investigation_due": due.astimezone(UTC)}
        if row["feedback_requested"]:
            changes["feedback_due"] = feedback_due(action.at, ctx.tz, ctx.deadlines).astimezone(UTC)
        if status == "closed":
            changes["closed_at"] = action.at
    elif action.name == "extend":
        assert action.until is not None
        new_due = datetime.combine(action.until, END_OF_DAY, ctx.tz).astimezone(UTC)
        if new_due <= row["investigation_due"]:
            raise ApiProblem(422, "Invalid extension", "`until` must be after the current due date")
        changes["investigation_due"] = new_due
    elif action.name == "close":
        changes["closed_at"] = action.at
    return changes


async def _reassign(conn: Conn, ctx: AssignmentContext, row: asyncpg.Record, action: Action) -> None:
    worker = next((w for w in ctx.staff if w.staff_id == action.caseworker), None)
    if worker is None:
        raise ApiProblem(422, "Unknown caseworker", "`caseworker` is not a caseworker in the unit config")
    mentor = worker.mentor if is_new_hire(worker, action.at.astimezone(ctx.tz).date(), ctx.rules) else None
    explanation = f"reassigned by {action.by.sub} from {row['caseworker']}"
    await conn.execute(
        "UPDATE assignments SET team = $2, caseworker = $3, mentor = $4, reason = 'manual',"
        " explanation = $5 WHERE referral_id = $1",
        row["referral_id"],
        worker.team,
        worker.staff_id,
        mentor,
        explanation,
    )
    data = ReferralAssigned(
        referral_id=row["referral_id"],
        family_key=row["family_key"],
        team=worker.team,
        caseworker=worker.staff_id,
        mentor=mentor,
        reason="manual",
        explanation=explanation,
        source="manual",
        acute_danger=row["acute_danger"],
        protected_identity=row["protected_identity"],
        received_at=row["received_at"],
        deadlines=Deadlines(
            protection_assessment_due=row["protection_due"], preliminary_assessment_due=row["preliminary_due"]
        ),
        weight=row["weight"],
    )
    envelope = new_envelope("referral.reassigned", data, producer=PRODUCER, correlation_id=row["referral_id"])
    await PostgresOutbox(conn).add([outbox_row(TOPIC_ASSIGNED, envelope)])


async def record_feedback(conn: Conn, referral_id: str, at: datetime, now: datetime) -> None:
    """The reporter was told the outcome (19 kap. 6 §): the feedback clock is met (no event contract yet)."""
    row = await load_for_update(conn, referral_id)
    if row["feedback_due"] is None:
        raise ApiProblem(409, "Conflict", "no feedback is due: none was requested, or no decision yet")
    if at > now + FUTURE_SLACK or at < row["decided_at"]:
        raise ApiProblem(422, "Invalid time", "`at` must lie between the decision and now")
    await conn.execute(
        "UPDATE assignments SET feedback_sent_at = coalesce(feedback_sent_at, $2) WHERE referral_id = $1",
        referral_id,
        at,
    )


def referral_state(row: asyncpg.Record) -> dict[str, Any]:
    """What GET /v1/referrals/{id} shows: assignment, status and deadlines, no client details."""
    keys = ("referral_id", "team", "caseworker", "mentor", "reason", "explanation", "status", "source")
    state: dict[str, Any] = {k: row[k] for k in keys}
    state["period"] = {"start": row["period_start"], "end": row["period_end"]}
    state["deadlines"] = {
        "protection_assessment": _deadline(row["protection_due"], row["protection_assessed_at"]),
        "preliminary_assessment": _deadline(row["preliminary_due"], row["decided_at"]),
        "investigation": _deadline(row["investigation_due"], row["closed_at"]),
        "reporter_feedback": _deadline(row["feedback_due"], row["feedback_sent_at"]),
    }
    state |= {"decision": row["decision"], "protection_outcome": row["protection_outcome"]}
    return state


def _deadline(due: datetime | None, met_at: datetime | None) -> dict[str, Any] | None:
    return None if due is None else {"due_at": due, "met_at": met_at}
