"""The consumer (shared/consumer.py) on the in-memory unit of work: no Postgres, no broker.

Outcomes, inbox, dead letters, retries and the bound on any record that keeps failing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from shared.consumer import EventConsumer
from shared.events import (
    TOPIC_DEADLETTER,
    TOPIC_RECEIVED,
    TOPIC_ROTATION,
    Envelope,
    ReferralReceived,
    RotationHandover,
    encode_event,
    new_envelope,
)
from shared.memory import InMemoryUnitOfWork, Tables
from shared.records import PoisonMessage, Record, Subscription, TransientFailure
from shared.settings import ConsumerSettings
from tests.wire import received_event


@dataclass
class HandledTables(Tables):
    handled: list[str] = field(default_factory=list)


class FakeUnitOfWork(InMemoryUnitOfWork[HandledTables]):
    pass


class Handler:
    """Records each referral id; a rule may make some fail."""

    def __init__(self, fail: dict[str, BaseException] | None = None, times: int | None = None) -> None:
        self.fail = fail or {}
        self.times = times  # fail only this many times, then succeed
        self.calls: list[list[str]] = []

    async def __call__(self, uow: FakeUnitOfWork, events: Sequence[Envelope[ReferralReceived]]) -> None:
        ids = [e.data.referral_id for e in events]
        self.calls.append(ids)
        for referral_id in ids:
            uow.tables.handled.append(referral_id)
            if referral_id in self.fail and (self.times is None or self.times > 0):
                if self.times is not None:
                    self.times -= 1
                raise self.fail[referral_id]


def settings(**overrides: float) -> ConsumerSettings:
    values = {"retry_initial_s": 0.001, "retry_max_s": 0.002, "retry_budget_s": 0.05, "poison_attempts": 4}
    return ConsumerSettings(**(values | overrides))


def consumer(tables: HandledTables, handler: Handler, **overrides: float) -> EventConsumer:
    subscriptions = {TOPIC_RECEIVED: Subscription(TOPIC_RECEIVED, ReferralReceived, handler)}
    return EventConsumer(
        lambda: FakeUnitOfWork(tables), subscriptions, settings(**overrides), service="test", consumer="test"
    )


def records(*events: Envelope[ReferralReceived], first_offset: int = 0) -> list[Record]:
    return [Record(encode_event(e), TOPIC_RECEIVED, 0, first_offset + i) for i, e in enumerate(events)]


def dead_letters(tables: Tables) -> list[dict[str, object]]:
    return [
        json.loads(payload)["data"] for _, topic, _, payload in tables.outbox if topic == TOPIC_DEADLETTER
    ]


async def test_a_batch_is_one_commit_in_order_and_copies_inside_or_before_it_are_duplicates() -> None:
    tables, handler = HandledTables(), Handler()
    earlier, a, b = received_event("R-earlier"), received_event("R-a"), received_event("R-b")
    assert await consumer(tables, handler).handle_batch(records(earlier)) == ["handled"]

    outcomes = await consumer(tables, handler).handle_batch(records(a, earlier, b, a))

    assert outcomes == ["handled", "duplicate", "handled", "duplicate"]
    assert tables.handled == ["R-earlier", "R-a", "R-b"]
    assert handler.calls == [["R-earlier"], ["R-a", "R-b"]]  # one run, the copies left out
    assert len(tables.inbox) == 3


async def test_a_record_that_breaks_the_contract_is_dead_lettered_and_the_batch_goes_on() -> None:
    tables = HandledTables()
    good = records(received_event("R-1"), received_event("R-2"))
    wrong_topic = Record(good[0].raw, TOPIC_RECEIVED, 0, 7)
    not_json = Record(b"\xff not json", TOPIC_RECEIVED, 0, 8)
    handover = RotationHandover(from_team="team-a", to_team="team-b", at=received_event("x").occurred_at)
    other_model = Record(
        encode_event(new_envelope("rotation.handover", handover, producer="t", correlation_id="c")),
        TOPIC_RECEIVED, 0, 9,
    )  # fmt: skip

    outcomes = await consumer(tables, Handler()).handle_batch([good[0], not_json, other_model, good[1]])

    assert outcomes == ["handled", "deadlettered", "deadlettered", "handled"]
    assert tables.handled == ["R-1", "R-2"]
    assert [d["offset"] for d in dead_letters(tables)] == [8, 9]
    assert wrong_topic.message_id == f"{TOPIC_RECEIVED}:0:7"


async def test_a_poison_event_is_dead_lettered_once_and_the_rest_of_its_batch_is_handled() -> None:
    tables = HandledTables()
    handler = Handler({"R-poison": PoisonMessage("rotation names a team the unit config lacks")})
    batch = records(received_event("R-1"), received_event("R-poison"), received_event("R-2"))

    first = await consumer(tables, handler).handle_batch(batch)
    again = await consumer(tables, handler).handle_batch(batch)  # redelivered after a crash

    assert first == ["handled", "deadlettered", "handled"]
    assert again == ["duplicate", "duplicate", "duplicate"]
    assert tables.handled == ["R-1", "R-2"]
    assert [d["error"] for d in dead_letters(tables)] == ["rotation names a team the unit config lacks"]


async def test_any_other_failure_is_tried_a_bounded_number_of_times_then_dead_lettered_unechoed() -> None:
    tables = HandledTables()
    # What year 1 did to assignment: an exception no one expected, raised every time.
    handler = Handler({"R-year-1": OverflowError("date value out of range: 0001-01-01 Test Testsson")})
    batch = records(received_event("R-1"), received_event("R-year-1"), received_event("R-2"))

    outcomes = await consumer(tables, handler, poison_attempts=3).handle_batch(batch)

    assert outcomes == ["handled", "deadlettered", "handled"]
    assert tables.handled == ["R-1", "R-2"]
    assert handler.calls.count(["R-year-1"]) == 3  # on its own, three attempts in all
    (letter,) = dead_letters(tables)
    assert str(letter["error"]).startswith("OverflowError at test_consumer.py:")
    assert "Testsson" not in str(letter["error"]) and "0001" not in str(letter["error"])


async def test_a_failure_that_passes_before_the_bound_is_handled_not_dead_lettered() -> None:
    tables = HandledTables()
    handler = Handler({"R-once": KeyError("flaky")}, times=2)

    outcomes = await consumer(tables, handler, poison_attempts=3).handle_batch(
        records(received_event("R-once"))
    )

    assert outcomes == ["handled"]
    assert tables.handled == ["R-once"] and dead_letters(tables) == []


async def test_a_transient_failure_that_lasts_commits_nothing_raises_and_marks_the_consumer_failing() -> None:
    tables = HandledTables()
    handler = Handler({"R-last": ConnectionRefusedError("database away")})
    failing = consumer(tables, handler)

    with pytest.raises(TransientFailure):
        await failing.handle_batch(records(received_event("R-first"), received_event("R-last")))

    assert len(handler.calls) >= 3  # the whole batch was retried
    assert tables.handled == [] and tables.inbox == set() and tables.outbox == []
    details = failing.health.details()
    assert details["state"] == "failing" and details["consecutive_failures"] == 1

    handler.fail.clear()
    assert await failing.handle_batch(records(received_event("R-first"), received_event("R-last"))) == [
        "handled",
        "handled",
    ]
    assert failing.health.details()["state"] == "ok"


async def test_runs_of_a_topic_keep_batch_order_and_topics_split_them() -> None:
    tables = HandledTables()
    handler = Handler()
    seen: list[str] = []

    async def on_rotation(uow: FakeUnitOfWork, events: Sequence[Envelope[RotationHandover]]) -> None:
        seen.extend(f"handover:{e.data.to_team}" for e in events)
        uow.tables.handled.extend(f"handover:{e.data.to_team}" for e in events)

    subscriptions = {
        TOPIC_RECEIVED: Subscription(TOPIC_RECEIVED, ReferralReceived, handler),
        TOPIC_ROTATION: Subscription(TOPIC_ROTATION, RotationHandover, on_rotation),
    }
    at = received_event("x").occurred_at
    handover = new_envelope(
        "rotation.handover", RotationHandover(from_team="team-a", to_team="team-b", at=at),
        producer="t", correlation_id="c",
    )  # fmt: skip
    batch = [
        *records(received_event("R-1"), received_event("R-2")),
        Record(encode_event(handover), TOPIC_ROTATION, 0, 0),
        *records(received_event("R-3"), first_offset=2),
    ]
    c = EventConsumer(lambda: FakeUnitOfWork(tables), subscriptions, settings(), service="t", consumer="t")

    assert await c.handle_batch(batch) == ["handled"] * 4
    assert handler.calls == [["R-1", "R-2"], ["R-3"]]
    assert tables.handled == ["R-1", "R-2", "handover:team-b", "R-3"]


async def test_a_failing_loop_writes_a_bounded_number_of_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    tables = HandledTables()
    handler = Handler({"R-1": ConnectionRefusedError("database away")})
    failing = consumer(tables, handler, retry_budget_s=0.3, log_interval_s=60.0)

    with caplog.at_level(logging.WARNING, logger="shared.consumer"), pytest.raises(TransientFailure):
        await failing.handle_batch(records(received_event("R-1")))

    assert len(handler.calls) > 20  # many retries ...
    retries = [r for r in caplog.records if r.getMessage() == "transient failure, retrying"]
    assert len(retries) == 1  # ... one line
