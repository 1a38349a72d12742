"""Issue 22's domain metrics (services/metrics): overload flags raised, open, escalated and the
time to the manager's answer; incidents by type and team; consultations booked and cancelled —
by team, never by person, each event counted once however often it is read."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from services.metrics.adapters.memory import InMemoryFiguresReader, InMemoryMetricsUnitOfWork, MetricsTables
from services.metrics.domain.figures import Unit
from services.metrics.handlers import project
from services.metrics.instruments import domain_metrics
from services.metrics.subscribers import TOPICS
from shared.events import TOPIC_WORKPLACE
from tests.metrics_sequence import samples
from tests.workplace_support import consultation, incident, overload

T = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
UNIT = Unit(teams=("team-a", "team-b", "team-c"), fte={"team-a": {}, "team-b": {}, "team-c": {}})


def sequence() -> list:
    f1, f2, f3, c1, c2 = (uuid.uuid4() for _ in range(5))
    answered = {"action": "keep", "responded_by": "mgr-a"}
    return [
        overload(flag_id=f1, staff="cw-a1", raised_at=T),
        overload("overload.responded", flag_id=f1, staff="cw-a1", raised_at=T,
                 responded_at=T + timedelta(minutes=40), **answered),
        overload(flag_id=f2, staff="cw-a2", raised_at=T),
        overload("overload.escalated", flag_id=f2, staff="cw-a2", raised_at=T),
        overload("overload.responded", flag_id=f2, staff="cw-a2", raised_at=T,
                 responded_at=T + timedelta(days=2, hours=1), **answered),
        overload(flag_id=f3, staff="cw-b1", team="team-b", raised_at=T),
        consultation(consultation_id=c1, starts_at=T + timedelta(days=7)),
        consultation("consultation.reminder", consultation_id=c1, starts_at=T + timedelta(days=7)),
        consultation(consultation_id=c2, starts_at=T + timedelta(days=8)),
        consultation("consultation.cancelled", consultation_id=c2, starts_at=T + timedelta(days=8),
                     sequence=1),
        incident(at=T, type="threat"),
        incident(at=T, type="threat"),
        incident(at=T, type="violence", team="team-b"),
        incident(at=T, type="harassment", team=None, requester="in-1"),
    ]  # fmt: skip


async def metrics_of(events: list) -> dict:
    tables = MetricsTables()
    uow = InMemoryMetricsUnitOfWork(tables)
    async with uow:
        await project(uow, [TOPICS[TOPIC_WORKPLACE][1](e) for e in events])
        await uow.commit()
    return samples((await domain_metrics(InMemoryFiguresReader(tables), UNIT, date(2026, 11, 24))).decode())


def team(name: str) -> tuple[tuple[str, str], ...]:
    return (("team", name),)


async def test_every_workplace_metric_of_a_known_sequence_has_its_exact_value():
    got = await metrics_of(sequence())
    assert [got[("overload_flags_raised_total", team(t))] for t in UNIT.teams] == [2, 1, 0]
    assert [got[("overload_flags_open", team(t))] for t in UNIT.teams] == [0, 1, 0]
    assert [got[("overload_flags_escalated_total", team(t))] for t in UNIT.teams] == [1, 0, 0]
    assert got[("overload_flag_response_seconds_count", ())] == 2
    assert got[("overload_flag_response_seconds_sum", ())] == 40 * 60 + (2 * 86400 + 3600)
    assert got[("overload_flag_response_seconds_bucket", (("le", "3600.0"),))] == 1
    assert got[("overload_flag_response_seconds_bucket", (("le", "172800.0"),))] == 1
    assert got[("overload_flag_response_seconds_bucket", (("le", "259200.0"),))] == 2
    assert got[("incidents_total", (("team", "team-a"), ("type", "threat")))] == 2
    assert got[("incidents_total", (("team", "team-b"), ("type", "violence")))] == 1
    assert got[("incidents_total", (("team", "none"), ("type", "harassment")))] == 1
    assert got[("incidents_total", (("team", "team-c"), ("type", "violence")))] == 0
    assert [got[("consultations_booked_total", team(t))] for t in UNIT.teams] == [0, 2, 0]
    assert [got[("consultations_cancelled_total", team(t))] for t in UNIT.teams] == [0, 1, 0]


async def test_events_read_twice_count_once_and_no_label_names_a_person():
    events = sequence()
    once, twice = await metrics_of(events), await metrics_of(events + events)
    assert once == twice
    labels = {value for _, pairs in once for _, value in pairs}
    assert not {v for v in labels if v.startswith(("cw-", "mgr-", "in-", "partner-"))}
