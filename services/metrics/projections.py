"""Projections: events folded into read models, in the consumer's transaction.

Topics have no order relative to each other, so every write is an upsert that gives the same
result whichever event of a referral arrives first.

Each projection is a list of steps, one SQL statement each, and a step turns an event into the
argument rows of its statement (none when the event has nothing for it, e.g. no due time). The
per-event handler (`Projection.one`, the single-record path) executes the steps' rows of one
event in order; the run handler (`Projection.run`) executes each step once for a whole run of
events with `executemany`, which asyncpg pipelines in one round trip, instead of one round trip
per statement and event.

Why a run gives the same rows as the events one by one: within a projection every step writes a
different table, no statement reads a table other than the one it writes, and the tables have
no triggers, foreign keys or sequences. Running step A for all events, then step B for all, therefore
applies to each table exactly the same statements in exactly the same order as event 1 (A, B),
event 2 (A, B), ...: a step's rows keep event order, so two events of one referral (a
reassignment, two updates) still meet the same row in their original order. Where one event has
several rows for one statement (the deadline upserts), they are one step, in the per-event order.
`test_metrics_runs.py` checks this against Postgres for random event sequences.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from services.metrics.domain import CLOSED_STATUSES, MEETS, reporter_group
from shared.db import Conn
from shared.events import (
    TOPIC_ASSIGNED,
    TOPIC_DEADLINES,
    TOPIC_NOTIFICATIONS,
    TOPIC_RECEIVED,
    TOPIC_ROTATION,
    TOPIC_UPDATED,
    DeadlineEvent,
    Envelope,
    NotificationOutcome,
    ReferralAssigned,
    ReferralReceived,
    ReferralUpdated,
    RotationHandover,
    WireModel,
)
from shared.postgres import PostgresUnitOfWork

Row = tuple[Any, ...]
# One statement of a projection and the argument rows one event gives it (possibly none).
Step = tuple[str, Callable[[Envelope[Any]], list[Row]]]

_DEADLINE_UPSERT = (
    "INSERT INTO deadline_states (referral_id, deadline, due_at, team, state) VALUES ($1, $2, $3, $4, $5)"
    " ON CONFLICT (referral_id, deadline) DO UPDATE SET"
    " due_at = coalesce(EXCLUDED.due_at, deadline_states.due_at),"
    " team = coalesce(EXCLUDED.team, deadline_states.team),"
    " state = CASE WHEN array_position(ARRAY['ok','approaching','breached','met'], EXCLUDED.state)"
    "  > array_position(ARRAY['ok','approaching','breached','met'], deadline_states.state)"
    "  THEN EXCLUDED.state ELSE deadline_states.state END"
)
_RECEIVED_INSERT = (
    "INSERT INTO received (referral_id, kind, channel, reporter_group, acute, received_at)"
    " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
)
_ASSIGNED_INSERT = (
    "INSERT INTO assigned (referral_id, team, caseworker, reason, received_at, assigned_at,"
    " assignment_seconds) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"
)
_ASSIGNMENT_EVENT_INSERT = (
    "INSERT INTO assignment_events (event_id, referral_id, team, reason) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT DO NOTHING"
)
# A reassignment moves the case; its status stays whatever the latest action made it.
_CASE_UPSERT = (
    "INSERT INTO cases (referral_id, team, caseworker, status, weight, status_at)"
    " VALUES ($1, $2, $3, 'assigned', $4, $5) ON CONFLICT (referral_id) DO UPDATE SET"
    " team = EXCLUDED.team, caseworker = EXCLUDED.caseworker, weight = EXCLUDED.weight"
)
# Upsert, not UPDATE: the status may come before the assignment (migration 003); the latest
# action by its own `at` wins whichever arrives first.
_CASE_STATUS_UPDATE = (
    "INSERT INTO cases (referral_id, status, status_at) VALUES ($1, $2, $3)"
    " ON CONFLICT (referral_id) DO UPDATE SET status = EXCLUDED.status, status_at = EXCLUDED.status_at"
    " WHERE cases.status_at <= EXCLUDED.status_at"
)
_BREACH_INSERT = (
    "INSERT INTO breaches (referral_id, deadline, team) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
)
_HANDOVER_INSERT = (
    "INSERT INTO handovers (at, from_team, to_team, next_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
)
_OUTCOME_INSERT = (
    "INSERT INTO notification_outcomes (event_id, channel, outcome) VALUES ($1, $2, $3)"
    " ON CONFLICT DO NOTHING"
)


@dataclass(frozen=True)
class Projection:
    """A topic's statements, applied one event at a time or for a whole run of events."""

    model: type[WireModel]
    steps: tuple[Step, ...]

    async def handle(self, uow: PostgresUnitOfWork, events: Sequence[Envelope[Any]]) -> None:
        """The consumer's edge: a run of the topic's new events in the batch's unit of work."""
        await self.run(uow.conn, events)

    async def one(self, conn: Conn, event: Envelope[Any]) -> None:
        """The single-record path: each statement of one event, in step order."""
        for sql, rows in self.steps:
            for args in rows(event):
                await conn.execute(sql, *args)

    async def run(self, conn: Conn, events: Sequence[Envelope[Any]]) -> None:
        """A run of events: each statement once, its rows in event order (module docstring: why)."""
        for sql, rows in self.steps:
            batch = [args for event in events for args in rows(event)]
            if batch:  # nothing to send, no round trip
                await conn.executemany(sql, batch)


def _received_rows(event: Envelope[Any]) -> list[Row]:
    data: ReferralReceived = event.data
    group = reporter_group(data.reporter_type, data.reporter_mandatory)
    return [(data.referral_id, data.kind, data.channel, group, data.acute_danger, data.received_at)]


# Count a received referral once.
RECEIVED_STEPS: tuple[Step, ...] = ((_RECEIVED_INSERT, _received_rows),)


def _assigned_rows(event: Envelope[Any]) -> list[Row]:
    data: ReferralAssigned = event.data
    seconds = max(0.0, (event.occurred_at - data.received_at).total_seconds())
    return [
        (
            data.referral_id,
            data.team,
            data.caseworker,
            data.reason,
            data.received_at,
            event.occurred_at,
            seconds,
        )
    ]


def _assignment_event_rows(event: Envelope[Any]) -> list[Row]:
    data: ReferralAssigned = event.data
    return [(event.event_id, data.referral_id, data.team, data.reason)]


def _case_rows(event: Envelope[Any]) -> list[Row]:
    # The case's status starts at receipt, so any later action (by its own `at`) overrides it.
    data: ReferralAssigned = event.data
    return [(data.referral_id, data.team, data.caseworker, data.weight or 1.0, data.received_at)]


def _assigned_deadline_rows(event: Envelope[Any]) -> list[Row]:
    data: ReferralAssigned = event.data
    clocks = (
        ("protection_assessment", data.deadlines.protection_assessment_due),
        ("preliminary_assessment", data.deadlines.preliminary_assessment_due),
    )
    return [(data.referral_id, name, due, data.team, "ok") for name, due in clocks if due is not None]


# An assignment or reassignment: counters, the case's owner, and its first two clocks.
ASSIGNED_STEPS: tuple[Step, ...] = (
    (_ASSIGNED_INSERT, _assigned_rows),
    (_ASSIGNMENT_EVENT_INSERT, _assignment_event_rows),
    (_CASE_UPSERT, _case_rows),
    (_DEADLINE_UPSERT, _assigned_deadline_rows),
)


def _status_rows(event: Envelope[Any]) -> list[Row]:
    data: ReferralUpdated = event.data
    return [(data.referral_id, data.status, data.at)]


def _updated_deadline_rows(event: Envelope[Any]) -> list[Row]:
    """The clock the action meets, then the investigation and feedback clocks it starts."""
    data: ReferralUpdated = event.data
    rows: list[Row] = []
    met = MEETS.get(event.event_type)
    if met is not None:
        rows.append((data.referral_id, met, None, None, "met"))
    if data.investigation_due is not None and data.status not in CLOSED_STATUSES:
        rows.append((data.referral_id, "investigation", data.investigation_due, None, "ok"))
    if data.feedback_due is not None:
        rows.append((data.referral_id, "reporter_feedback", data.feedback_due, None, "ok"))
    return rows


# A lifecycle action: the case's status, the clock it meets, the clocks it starts.
UPDATED_STEPS: tuple[Step, ...] = (
    (_CASE_STATUS_UPDATE, _status_rows),
    (_DEADLINE_UPSERT, _updated_deadline_rows),
)


def _deadline_state(event: Envelope[Any]) -> str:
    return "breached" if event.event_type == "deadline.breached" else "approaching"


def _deadline_rows(event: Envelope[Any]) -> list[Row]:
    data: DeadlineEvent = event.data
    return [(data.referral_id, data.deadline, data.due_at, data.team, _deadline_state(event))]


def _breach_rows(event: Envelope[Any]) -> list[Row]:
    data: DeadlineEvent = event.data
    return [(data.referral_id, data.deadline, data.team)] if _deadline_state(event) == "breached" else []


# An approaching or breached clock; breaches are counted once per referral and clock.
DEADLINE_STEPS: tuple[Step, ...] = (
    (_DEADLINE_UPSERT, _deadline_rows),
    (_BREACH_INSERT, _breach_rows),
)


def _handover_rows(event: Envelope[Any]) -> list[Row]:
    data: RotationHandover = event.data
    return [(data.at, data.from_team, data.to_team, data.next_handover_at)]


# Which team took over duty, and when the next handover is.
HANDOVER_STEPS: tuple[Step, ...] = ((_HANDOVER_INSERT, _handover_rows),)


def _outcome_rows(event: Envelope[Any]) -> list[Row]:
    data: NotificationOutcome = event.data
    return [(event.event_id, data.channel, event.event_type.removeprefix("notification."))]


# Count what became of each delivery.
NOTIFICATION_STEPS: tuple[Step, ...] = ((_OUTCOME_INSERT, _outcome_rows),)


# Topic -> projection, for the composition root (and the tests that compare both paths).
PROJECTIONS: dict[str, Projection] = {
    TOPIC_RECEIVED: Projection(ReferralReceived, RECEIVED_STEPS),
    TOPIC_ASSIGNED: Projection(ReferralAssigned, ASSIGNED_STEPS),
    TOPIC_UPDATED: Projection(ReferralUpdated, UPDATED_STEPS),
    TOPIC_DEADLINES: Projection(DeadlineEvent, DEADLINE_STEPS),
    TOPIC_ROTATION: Projection(RotationHandover, HANDOVER_STEPS),
    TOPIC_NOTIFICATIONS: Projection(NotificationOutcome, NOTIFICATION_STEPS),
}
