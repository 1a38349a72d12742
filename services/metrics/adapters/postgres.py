"""The read models in Postgres: each kind of change is one upsert statement, sent once per run.

A run's changes go in pieces, each statement once per piece with `executemany`, which asyncpg
pipelines in one round trip, instead of one round trip per statement and event.

Why a piece leaves the same rows as its changes one by one: every statement writes one table
and reads no other, and the tables have no triggers, foreign keys or sequences. A piece is cut
where a table would be written by a second kind of change, so within a piece each table has one
statement, whose rows keep their order. Sending statement A for all its rows, then B for all,
therefore applies to each table the same statements in the same order as change 1, change 2, ...
A run of one topic's events is one piece (no two kinds of change of a topic share a table).
`tests/contract/test_metrics_ports.py` checks it against random event sequences.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from services.metrics.domain.projection import (
    AssignmentCounted,
    BreachCounted,
    CaseOwned,
    CaseStatusSet,
    Change,
    ConsultationSeen,
    DeadlineRaised,
    FirstAssignmentRecorded,
    FlagSeen,
    HandoverRecorded,
    IncidentCounted,
    OutcomeCounted,
    ReceivedCounted,
)
from shared.db import Conn
from shared.postgres import PostgresUnitOfWork

Row = tuple[Any, ...]

# The state only moves up: `domain.projection.later_state`.
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

# Issue 22: the flag's team stays the first seen; escalation and answer only ever get added.
_FLAG_UPSERT = (
    "INSERT INTO overload_flags (flag_id, team, escalated, response_seconds) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (flag_id) DO UPDATE SET escalated = overload_flags.escalated OR EXCLUDED.escalated,"
    " response_seconds = coalesce(overload_flags.response_seconds, EXCLUDED.response_seconds)"
)
_CONSULTATION_UPSERT = (
    "INSERT INTO consultations (consultation_id, team, booked, cancelled) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (consultation_id) DO UPDATE SET booked = consultations.booked OR EXCLUDED.booked,"
    " cancelled = consultations.cancelled OR EXCLUDED.cancelled"
)
_INCIDENT_INSERT = (
    "INSERT INTO incidents (incident_id, type, team) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
)

# Each kind of change: its table and its statement, whose parameters are the change's fields.
STATEMENTS: dict[type[Any], tuple[str, str]] = {
    ReceivedCounted: ("received", _RECEIVED_INSERT),
    FirstAssignmentRecorded: ("assigned", _ASSIGNED_INSERT),
    AssignmentCounted: ("assignment_events", _ASSIGNMENT_EVENT_INSERT),
    CaseOwned: ("cases", _CASE_UPSERT),
    CaseStatusSet: ("cases", _CASE_STATUS_UPDATE),
    DeadlineRaised: ("deadline_states", _DEADLINE_UPSERT),
    BreachCounted: ("breaches", _BREACH_INSERT),
    HandoverRecorded: ("handovers", _HANDOVER_INSERT),
    OutcomeCounted: ("notification_outcomes", _OUTCOME_INSERT),
    FlagSeen: ("overload_flags", _FLAG_UPSERT),
    ConsultationSeen: ("consultations", _CONSULTATION_UPSERT),
    IncidentCounted: ("incidents", _INCIDENT_INSERT),
}
_ROW: dict[type[Any], Callable[[Any], Row]] = {
    kind: attrgetter(*(f.name for f in dataclasses.fields(kind))) for kind in STATEMENTS
}


def pieces(changes: Sequence[Change]) -> list[dict[type[Any], list[Row]]]:
    """The changes as pieces: per kind of change (in order of first appearance) its argument rows,
    a new piece wherever a table would be written by a second kind (module docstring: why)."""
    cut: list[dict[type[Any], list[Row]]] = [{}]
    writer: dict[str, type[Any]] = {}  # table -> the kind writing it in the current piece
    for change in changes:
        kind = type(change)
        table = STATEMENTS[kind][0]
        if writer.setdefault(table, kind) is not kind:
            cut.append({})
            writer = {table: kind}
        cut[-1].setdefault(kind, []).append(_ROW[kind](change))
    return cut


class PostgresReadModels:
    """The read models in the metrics schema, on the unit of work's connection."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def apply(self, changes: Sequence[Change]) -> None:
        """One `executemany` per kind of change and piece; nothing to send, no round trip."""
        for piece in pieces(changes):
            for kind, rows in piece.items():
                await self._conn.executemany(STATEMENTS[kind][1], rows)


class PostgresMetricsUnitOfWork(PostgresUnitOfWork):
    """The consumer's unit of work with the read models on its connection."""

    @property
    def read_models(self) -> PostgresReadModels:
        """The read models, in this transaction."""
        return PostgresReadModels(self.conn)
