"""Projections: events folded into read models, in the consumer's transaction.

Topics have no order relative to each other, so every write is an upsert that gives the same
result whichever event of a referral arrives first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.metrics.domain import CLOSED_STATUSES, MEETS, reporter_group
from shared.db import Conn
from shared.events import (
    DeadlineEvent,
    Envelope,
    NotificationOutcome,
    ReferralAssigned,
    ReferralReceived,
    ReferralUpdated,
    RotationHandover,
)

_DEADLINE_UPSERT = (
    "INSERT INTO deadline_states (referral_id, deadline, due_at, team, state) VALUES ($1, $2, $3, $4, $5)"
    " ON CONFLICT (referral_id, deadline) DO UPDATE SET"
    " due_at = coalesce(EXCLUDED.due_at, deadline_states.due_at),"
    " team = coalesce(EXCLUDED.team, deadline_states.team),"
    " state = CASE WHEN array_position(ARRAY['ok','approaching','breached','met'], EXCLUDED.state)"
    "  > array_position(ARRAY['ok','approaching','breached','met'], deadline_states.state)"
    "  THEN EXCLUDED.state ELSE deadline_states.state END"
)


async def project_received(conn: Conn, event: Envelope[Any]) -> None:
    """Count a received referral once."""
    data: ReferralReceived = event.data
    await conn.execute(
        "INSERT INTO received (referral_id, kind, channel, reporter_group, acute, received_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        data.referral_id, data.kind, data.channel,
        reporter_group(data.reporter_type, data.reporter_mandatory), data.acute_danger, data.received_at,
    )  # fmt: skip


async def project_assigned(conn: Conn, event: Envelope[Any]) -> None:
    """An assignment or reassignment: counters, the case's owner, and its first two clocks."""
    data: ReferralAssigned = event.data
    seconds = max(0.0, (event.occurred_at - data.received_at).total_seconds())
    await conn.execute(
        "INSERT INTO assigned (referral_id, team, caseworker, reason, received_at, assigned_at,"
        " assignment_seconds) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        data.referral_id, data.team, data.caseworker, data.reason, data.received_at,
        event.occurred_at, seconds,
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO assignment_events (event_id, referral_id, team, reason) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        event.event_id, data.referral_id, data.team, data.reason,
    )  # fmt: skip
    # The case's status starts at receipt, so any later action (by its own `at`) overrides it.
    await _upsert_case(conn, data.referral_id, data.team, data.caseworker, data.weight, data.received_at)
    for name, due in (("protection_assessment", data.deadlines.protection_assessment_due),
                      ("preliminary_assessment", data.deadlines.preliminary_assessment_due)):  # fmt: skip
        if due is not None:
            await conn.execute(_DEADLINE_UPSERT, data.referral_id, name, due, data.team, "ok")


async def _upsert_case(
    conn: Conn, referral_id: str, team: str, caseworker: str, weight: float | None, at: datetime
) -> None:
    # A reassignment moves the case; its status stays whatever the latest action made it.
    await conn.execute(
        "INSERT INTO cases (referral_id, team, caseworker, status, weight, status_at)"
        " VALUES ($1, $2, $3, 'assigned', $4, $5) ON CONFLICT (referral_id) DO UPDATE SET"
        " team = EXCLUDED.team, caseworker = EXCLUDED.caseworker, weight = EXCLUDED.weight",
        referral_id, team, caseworker, weight or 1.0, at,
    )  # fmt: skip


async def project_updated(conn: Conn, event: Envelope[Any]) -> None:
    """A lifecycle action: the case's status, the clock it meets, the clocks it starts."""
    data: ReferralUpdated = event.data
    await conn.execute(
        "UPDATE cases SET status = $2, status_at = $3 WHERE referral_id = $1 AND status_at <= $3",
        data.referral_id, data.status, data.at,
    )  # fmt: skip
    met = MEETS.get(event.event_type)
    if met is not None:
        await conn.execute(_DEADLINE_UPSERT, data.referral_id, met, None, None, "met")
    if data.investigation_due is not None and data.status not in CLOSED_STATUSES:
        await conn.execute(_DEADLINE_UPSERT, data.referral_id, "investigation", data.investigation_due,
                           None, "ok")  # fmt: skip
    if data.feedback_due is not None:
        await conn.execute(_DEADLINE_UPSERT, data.referral_id, "reporter_feedback", data.feedback_due,
                           None, "ok")  # fmt: skip


async def project_deadline(conn: Conn, event: Envelope[Any]) -> None:
    """An approaching or breached clock; breaches are counted once per referral and clock."""
    data: DeadlineEvent = event.data
    state = "breached" if event.event_type == "deadline.breached" else "approaching"
    await conn.execute(_DEADLINE_UPSERT, data.referral_id, data.deadline, data.due_at, data.team, state)
    if state == "breached":
        await conn.execute(
            "INSERT INTO breaches (referral_id, deadline, team) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            data.referral_id, data.deadline, data.team,
        )  # fmt: skip


async def project_handover(conn: Conn, event: Envelope[Any]) -> None:
    """Which team took over duty, and when the next handover is."""
    data: RotationHandover = event.data
    await conn.execute(
        "INSERT INTO handovers (at, from_team, to_team, next_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        data.at, data.from_team, data.to_team, data.next_handover_at,
    )  # fmt: skip


async def project_notification(conn: Conn, event: Envelope[Any]) -> None:
    """Count what became of each delivery."""
    data: NotificationOutcome = event.data
    outcome = event.event_type.removeprefix("notification.")
    await conn.execute(
        "INSERT INTO notification_outcomes (event_id, channel, outcome) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING",
        event.event_id, data.channel, outcome,
    )  # fmt: skip
