"""The metrics projections and /metrics on the in-memory fakes: no Postgres, no broker.

Each event type's changes to the read models, arrival in any order between topics, and the
exact domain metrics of a known sequence of events.
"""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.metrics.adapters.memory import (
    CaseRow,
    InMemoryFiguresReader,
    InMemoryMetricsUnitOfWork,
    MetricsTables,
)
from services.metrics.adapters.postgres import STATEMENTS, pieces
from services.metrics.domain.events import (
    CaseActed,
    DeadlineAlerted,
    DeliverySettled,
    DutyHandedOver,
    MetricsEvent,
    ReferralAssigned,
    ReferralReceived,
    ReporterFeedbackNews,
)
from services.metrics.domain.figures import Unit
from services.metrics.domain.projection import read_model_changes
from services.metrics.handlers import project
from services.metrics.instruments import domain_metrics
from services.metrics.subscribers import TOPICS
from shared.events import TOPIC_ROTATION, TOPIC_UPDATED, RotationHandover, new_envelope
from tests.metrics_events import random_events, runs_by_topic
from tests.metrics_sequence import EXPECTED, SEQUENCE, samples

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture
def tables() -> MetricsTables:
    return MetricsTables()


async def projected(tables: MetricsTables, *events: MetricsEvent) -> MetricsTables:
    """The events projected one run each, as the consumer would hand them over one at a time."""
    for event in events:
        uow = InMemoryMetricsUnitOfWork(tables)
        async with uow:
            await project(uow, [event])
            await uow.commit()
    return tables


def received(rid: str = "R1", reporter: str = "school", mandatory: bool = True) -> ReferralReceived:
    return ReferralReceived(rid, "report", "e_service", reporter, mandatory, False, T0)


def assigned(
    rid: str = "R1", caseworker: str = "cw-1", weight: float | None = 2.0, **kw: Any
) -> ReferralAssigned:
    fields: dict[str, Any] = dict(
        team="team-a", reason="rotation", received_at=T0, assigned_at=T0 + 90 * timedelta(seconds=1),
        protection_assessment_due=T0 + 8 * H, preliminary_assessment_due=T0 + 14 * 24 * H,
    ) | kw  # fmt: skip
    return ReferralAssigned(uuid.uuid4(), rid, caseworker=caseworker, weight=weight, **fields)


def acted(action: str, status: str, at: datetime, rid: str = "R1", **due: datetime) -> CaseActed:
    return CaseActed(action, rid, status, at, due.get("investigation_due"), due.get("feedback_due"))


DUE = {"protection_assessment": T0 + 8 * H, "preliminary_assessment": T0 + 14 * 24 * H}


def alert(deadline: str, breached: bool, rid: str = "R1") -> DeadlineAlerted:
    """A clock's alert; each clock has one due time, whichever event names it."""
    return DeadlineAlerted(rid, deadline, DUE.get(deadline, T0 + 24 * H), "team-a", breached)


async def test_a_received_referral_is_counted_once_in_its_reporter_group(tables):
    await projected(
        tables, received(), received(), received("R2", "dental_care"), received("R3", "neighbour", False)
    )

    assert {r.referral_id: r.reporter_group for r in tables.received.values()} == {
        "R1": "school", "R2": "health_care", "R3": "private",
    }  # fmt: skip


async def test_an_assignment_counts_keeps_the_first_time_owns_the_case_and_starts_two_clocks(tables):
    first, again = (
        assigned(),
        assigned(caseworker="cw-2", weight=None, reason="manual", assigned_at=T0 + 5 * H),
    )
    await projected(tables, first, again)

    assert tables.assigned["R1"].caseworker == "cw-1"
    assert tables.assigned["R1"].assignment_seconds == 90.0
    assert sorted(a.reason for a in tables.assignment_events.values()) == ["manual", "rotation"]
    assert tables.cases["R1"] == CaseRow("R1", "team-a", "cw-2", "assigned", 1.0, T0)
    assert {k[1]: (d.state, d.due_at) for k, d in tables.deadline_states.items()} == {
        "protection_assessment": ("ok", T0 + 8 * H),
        "preliminary_assessment": ("ok", T0 + 14 * 24 * H),
    }


async def test_an_assignment_received_late_counts_no_negative_time(tables):
    await projected(tables, assigned(assigned_at=T0 - H))
    assert tables.assigned["R1"].assignment_seconds == 0.0


async def test_an_action_sets_the_status_meets_its_clock_and_starts_the_next_ones(tables):
    await projected(
        tables,
        assigned(),
        acted("referral.protection_assessed", "protection_assessed", T0 + H),
        acted("referral.decided", "investigation", T0 + 2 * H, investigation_due=T0 + 120 * 24 * H,
              feedback_due=T0 + 21 * 24 * H),
    )  # fmt: skip

    assert (tables.cases["R1"].status, tables.cases["R1"].status_at) == ("investigation", T0 + 2 * H)
    assert {k[1]: d.state for k, d in tables.deadline_states.items()} == {
        "protection_assessment": "met", "preliminary_assessment": "met",
        "investigation": "ok", "reporter_feedback": "ok",
    }  # fmt: skip


async def test_feedback_sent_to_the_reporter_meets_the_feedback_clock_and_a_request_changes_nothing(tables):
    await projected(
        tables,
        assigned(),
        acted("referral.decided", "closed", T0 + H, feedback_due=T0 + 7 * 24 * H),
        ReporterFeedbackNews("R1", sent=False, at=T0 + 2 * H),
    )
    assert tables.deadline_states[("R1", "reporter_feedback")].state == "ok"
    await projected(tables, ReporterFeedbackNews("R1", sent=True, at=T0 + 3 * H))
    assert tables.deadline_states[("R1", "reporter_feedback")].state == "met"


async def test_closing_starts_no_investigation_clock_and_meets_the_investigation(tables):
    await projected(
        tables,
        acted("referral.decided", "closed", T0 + H, investigation_due=T0 + 9 * H),
    )
    assert ("R1", "investigation") not in tables.deadline_states
    await projected(tables, acted("investigation.closed", "closed", T0 + 2 * H))
    assert tables.deadline_states["R1", "investigation"].state == "met"


async def test_an_older_action_read_later_does_not_override_the_status(tables):
    await projected(tables, acted("referral.decided", "investigation", T0 + 3 * H))
    await projected(tables, acted("referral.acknowledged", "acknowledged", T0 + H))
    assert tables.cases["R1"].status == "investigation"


async def test_a_clock_only_moves_up_and_a_breach_is_counted_once(tables):
    await projected(
        tables, alert("protection_assessment", breached=False), alert("protection_assessment", True)
    )
    await projected(
        tables, alert("protection_assessment", breached=True), alert("protection_assessment", False)
    )
    assert tables.deadline_states["R1", "protection_assessment"].state == "breached"
    assert len(tables.breaches) == 1

    await projected(tables, acted("referral.protection_assessed", "protection_assessed", T0 + H))
    await projected(tables, alert("protection_assessment", breached=True, rid="R1"))
    assert tables.deadline_states["R1", "protection_assessment"].state == "met"


async def test_a_handover_and_notification_outcomes_are_recorded_once_each(tables):
    handover = DutyHandedOver(T0, "team-a", "team-b", T0 + 14 * 24 * H)
    sent = DeliverySettled(uuid.uuid4(), "email", "sent")
    await projected(tables, handover, handover, sent, sent, DeliverySettled(uuid.uuid4(), "teams", "unknown"))
    assert list(tables.handovers) == [T0]
    assert sorted(o.outcome for o in tables.notification_outcomes.values()) == ["sent", "unknown"]


async def test_a_status_read_before_the_assignment_is_kept_and_the_case_joins_its_team_later(tables):
    reader = InMemoryFiguresReader(tables)
    await projected(tables, acted("referral.decided", "investigation", T0 + 2 * H))
    early = await reader.figures()
    assert tables.cases["R1"] == CaseRow("R1", None, None, "investigation", None, T0 + 2 * H)
    assert (early.open_cases, early.loads) == ({}, {})  # in no team's figures yet

    await projected(tables, assigned())
    assert tables.cases["R1"] == CaseRow("R1", "team-a", "cw-1", "investigation", 2.0, T0 + 2 * H)
    assert (await reader.figures()).open_cases == {("team-a", "investigation"): 1}


@pytest.mark.parametrize("seed", range(5))
async def test_the_read_models_do_not_depend_on_the_order_between_topics(seed):
    rng = random.Random(seed)
    events: list[MetricsEvent] = [
        received(), assigned(), acted("referral.protection_assessed", "protection_assessed", T0 + H),
        alert("protection_assessment", breached=True),
        acted("referral.decided", "investigation", T0 + 2 * H, investigation_due=T0 + 9 * H),
        alert("preliminary_assessment", breached=False), DeliverySettled(uuid.uuid4(), "email", "sent"),
    ]  # fmt: skip
    expected = await projected(MetricsTables(), *events)
    shuffled = [*events]
    rng.shuffle(shuffled)  # these events are of different topics, or of one topic in its order
    if shuffled.index(events[2]) > shuffled.index(events[4]):
        i, j = shuffled.index(events[4]), shuffled.index(events[2])
        shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
    got = await projected(MetricsTables(), *shuffled)
    for name in ("received", "assigned", "cases", "deadline_states", "breaches", "notification_outcomes"):
        assert getattr(got, name) == getattr(expected, name), name


async def test_nothing_is_kept_without_a_commit(tables):
    async with InMemoryMetricsUnitOfWork(tables) as uow:
        await project(uow, [received(), assigned()])
    assert (tables.received, tables.cases) == ({}, {})


def test_one_topics_changes_are_sent_as_one_piece_each_statement_once():
    """Within a topic no two kinds of change write one table, so a run is one round trip per
    statement (adapters/postgres.py: why that leaves the rows of the events one at a time)."""
    for seed in range(5):
        for topic, run in runs_by_topic(random_events(random.Random(seed), 200)):
            changes = [c for e in run for c in read_model_changes(TOPICS[topic][1](e))]
            assert len(pieces(changes)) == 1, topic


def test_a_table_written_by_a_second_kind_of_change_starts_a_new_piece():
    owner = read_model_changes(assigned())
    status = read_model_changes(acted("referral.decided", "investigation", T0 + H))
    cut = pieces([*owner, *status, *owner])
    tables = [[STATEMENTS[kind][0] for kind in piece] for piece in cut]
    assert tables == [
        ["assigned", "assignment_events", "cases", "deadline_states"],
        ["cases", "deadline_states", "assigned", "assignment_events"],  # the status, then a second owner
        ["cases", "deadline_states"],
    ]


UNIT = Unit(
    teams=("team-a", "team-b", "team-c"),
    fte={"team-a": {"cw-a1": 1.0, "cw-a2": 1.0}, "team-b": {"cw-b1": 1.0, "cw-b2": 1.0}, "team-c": {}},
)


async def test_every_domain_metric_of_a_known_sequence_has_its_exact_value(tables):
    updates = [(t, e) for t, e in SEQUENCE if t == TOPIC_UPDATED]
    others = [(t, e) for t, e in SEQUENCE if t != TOPIC_UPDATED]
    reader = InMemoryFiguresReader(tables)
    for topic, envelope in updates:  # the status updates first, as a consumer catching up may read them
        await projected(tables, TOPICS[topic][1](envelope))
    early = samples((await domain_metrics(reader, UNIT, date(2026, 11, 16))).decode())
    assert not [key for key in early if key[0] == "referrals_open"]
    assert {v for key, v in early.items() if key[0] == "caseload_weighted"} == {0.0}

    for topic, run in runs_by_topic(others):
        uow = InMemoryMetricsUnitOfWork(tables)
        async with uow:
            await project(uow, [TOPICS[topic][1](e) for e in run])
            await uow.commit()
    got = samples((await domain_metrics(reader, UNIT, date(2026, 11, 16))).decode())

    for key, value in EXPECTED.items():
        assert got.get(key) == pytest.approx(value), key
    # team-c has no caseworkers to compare: no ratio.
    assert ("caseload_imbalance_ratio", (("team", "team-c"),)) not in got
    assert got[("referral_assignment_seconds_bucket", (("le", "+Inf"),))] == 3


async def test_the_imbalance_ratio_is_infinite_with_a_caseworker_at_zero_load_and_one_for_an_idle_team(
    tables,
):
    await projected(tables, assigned("R1", "cw-a1", 3.0))
    got = samples((await domain_metrics(InMemoryFiguresReader(tables), UNIT, date(2026, 11, 16))).decode())
    assert got[("caseload_imbalance_ratio", (("team", "team-a"),))] == math.inf
    assert got[("caseload_imbalance_ratio", (("team", "team-b"),))] == 1.0  # nobody carries anything


async def test_the_imbalance_ratio_is_shown_once_everyone_carries_something(tables):
    await projected(tables, assigned("R1", "cw-a1", 3.0), assigned("R2", "cw-a2", 1.5))
    got = samples((await domain_metrics(InMemoryFiguresReader(tables), UNIT, date(2026, 11, 16))).decode())
    assert got[("caseload_imbalance_ratio", (("team", "team-a"),))] == pytest.approx(2.0)
    assert got[("caseload_weighted", (("caseworker", "cw-a1"), ("team", "team-a")))] == 3.0


async def test_the_team_on_duty_has_samples_as_soon_as_the_announcement_at_start_is_read(tables):
    reader = InMemoryFiguresReader(tables)
    before = samples((await domain_metrics(reader, UNIT, date(2026, 11, 16))).decode())
    assert not [key for key in before if key[0] == "rotation_on_duty"]  # nothing known yet
    at, following = T0 - 3 * 24 * H, T0 + 11 * 24 * H
    announced = new_envelope(
        "rotation.on_duty",
        RotationHandover(from_team="team-a", to_team="team-b", at=at, next_handover_at=following),
        producer="assignment",
        correlation_id="rotation",
    )
    await projected(tables, TOPICS[TOPIC_ROTATION][1](announced))
    got = samples((await domain_metrics(reader, UNIT, date(2026, 11, 16))).decode())
    assert {key[1][0][1]: v for key, v in got.items() if key[0] == "rotation_on_duty"} == {
        "team-a": 0.0, "team-b": 1.0, "team-c": 0.0,
    }  # fmt: skip
    assert got[("rotation_next_handover_timestamp_seconds", ())] == following.timestamp()
