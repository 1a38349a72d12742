"""Feedback to a mandatory reporter (SoL 2025:400 19 kap. 6 §, issue 23): exact due dates, the
clock on the case, and no clock at all for a reporter who is not owed feedback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.assignment import api, subscribers
from services.assignment.domain.access import Actor
from services.assignment.domain.cases import CaseAction, feedback_owed
from services.assignment.domain.deadlines import reporter_feedback_due
from services.assignment.handlers.cases import act_on_case
from shared.events import TOPIC_FEEDBACK, ReporterFeedback, new_envelope
from shared.http import add_problem_handlers
from shared.records import PoisonMessage
from tests.assignment_support import TZ, UNIT, Fakes, local, received

CAL = UNIT.calendar
MANAGER = Actor("mgr-a", frozenset({"manager"}))


def due(decided: datetime, requested: datetime, decision: str = "open_investigation") -> datetime:
    return reporter_feedback_due(decided, decision, requested, CAL, TZ, UNIT.deadlines)


# --- exact dates ------------------------------------------------------------------------------


def test_a_decision_on_a_friday_is_owed_feedback_by_the_end_of_the_next_friday() -> None:
    decided = local(2026, 10, 16, 14, 0)  # a Friday
    assert due(decided, local(2026, 10, 12, 9, 0)) == local(2026, 10, 23, 23, 59, 59)


def test_a_decision_just_before_christmas_keeps_christmas_eve_as_the_due_day() -> None:
    # One week is seven calendar days (docs/ARCHITECTURE.md): Christmas Eve is not moved.
    decided = local(2026, 12, 17, 11, 0)  # a Thursday
    assert due(decided, local(2026, 12, 15, 9, 0), "no_investigation") == local(2026, 12, 24, 23, 59, 59)


def test_a_request_after_the_decision_is_owed_at_once_the_same_office_day() -> None:
    decided, requested = local(2026, 9, 15, 10, 0), local(2026, 9, 23, 10, 0)  # a Wednesday morning
    assert due(decided, requested) == local(2026, 9, 23, 17, 0)


def test_a_request_after_the_decision_late_on_a_friday_is_owed_by_noon_on_monday() -> None:
    decided, requested = local(2026, 10, 14, 10, 0), local(2026, 10, 16, 16, 30)
    assert due(decided, requested, "no_investigation") == local(2026, 10, 19, 12, 0)


def test_a_request_after_the_decision_on_the_day_before_christmas_eve_is_owed_after_the_holidays() -> None:
    decided, requested = local(2026, 12, 21, 10, 0), local(2026, 12, 23, 16, 0)  # after the cut-off
    assert due(decided, requested) == local(2026, 12, 28, 12, 0)  # 24-27 December: no office day


def test_an_investigation_already_under_way_is_owed_at_once() -> None:
    decided = local(2026, 10, 16, 11, 0)  # Friday morning
    assert due(decided, local(2026, 10, 12, 9, 0), "joined_ongoing") == local(2026, 10, 16, 17, 0)
    saturday = local(2026, 10, 17, 9, 0)
    assert due(saturday, local(2026, 10, 12, 9, 0), "joined_ongoing") == local(2026, 10, 19, 12, 0)


def test_only_a_mandatory_reporter_who_asked_is_owed_feedback() -> None:
    assert feedback_owed(requested=True, reporter_mandatory=True)
    assert not feedback_owed(requested=True, reporter_mandatory=False)  # a private reporter
    assert not feedback_owed(requested=False, reporter_mandatory=True)


# --- the clock on the case --------------------------------------------------------------------

RECEIVED = local(2026, 9, 15, 10, 0)


def feedback_event(kind: str, at: datetime, referral_id: str = "R-1") -> Any:
    data = ReporterFeedback(
        referral_id=referral_id, family_key=f"f-{referral_id}", at=at, by="in-1", channel="email"
    )
    return new_envelope(f"reporter_feedback.{kind}", data, producer="intake", correlation_id=referral_id)


async def on_feedback(fakes: Fakes, *events: Any) -> None:
    handlers: dict[str, Any] = {}

    class Runtime:
        def subscribe(self, topic: str, model: Any, handler: Any) -> None:
            handlers[topic] = handler

    subscribers.subscribe(Runtime(), fakes.unit)
    uow = fakes.uow()
    async with uow:
        await handlers[TOPIC_FEEDBACK](uow, list(events))
        await uow.commit()


async def decide(fakes: Fakes, decision: str, at: datetime) -> None:
    await act_on_case(
        fakes.uow(), fakes.unit, "R-1", CaseAction("decision", MANAGER, at, decision=decision), at
    )


async def open_feedback_clocks(fakes: Fakes) -> list[tuple[str, datetime]]:
    async with fakes.uow() as uow:
        clocks = await uow.scheduled.open_deadlines(datetime(2100, 1, 1, tzinfo=UTC))
    return [(d.name, d.due_at) for d in clocks if d.name == "reporter_feedback"]


async def test_a_private_reporters_request_starts_no_clock_whatever_the_event_says() -> None:
    fakes = Fakes(RECEIVED)
    event = received("R-1", at=RECEIVED, feedback=True)
    private = event.model_copy(
        update={
            "data": event.data.model_copy(
                update={"reporter_type": "private_person", "reporter_mandatory": False}
            )
        }
    )
    await fakes.assign(private)
    assert not fakes.case("R-1").feedback_requested
    await decide(fakes, "open_investigation", local(2026, 9, 17, 11, 0))
    assert fakes.case("R-1").feedback_due is None and await open_feedback_clocks(fakes) == []


async def test_joined_ongoing_with_a_request_in_the_report_is_due_the_same_day() -> None:
    fakes = Fakes(RECEIVED)
    await fakes.assign(received("R-1", at=RECEIVED, feedback=True))
    await decide(fakes, "joined_ongoing", local(2026, 9, 16, 9, 0))
    assert fakes.case("R-1").feedback_due == local(2026, 9, 16, 17, 0)


async def test_a_later_request_before_the_decision_waits_for_the_week_from_the_decision() -> None:
    fakes = Fakes(RECEIVED)
    await fakes.assign(received("R-1", at=RECEIVED))
    await on_feedback(fakes, feedback_event("requested", local(2026, 9, 16, 9, 0)))
    assert fakes.case("R-1").feedback_requested and fakes.case("R-1").feedback_due is None
    await decide(fakes, "no_investigation", local(2026, 9, 18, 14, 0))  # a Friday
    assert await open_feedback_clocks(fakes) == [("reporter_feedback", local(2026, 9, 25, 23, 59, 59))]


async def test_a_request_after_the_decision_is_due_at_once_and_feedback_sent_stops_the_clock() -> None:
    fakes = Fakes(RECEIVED)
    await fakes.assign(received("R-1", at=RECEIVED))
    await decide(fakes, "open_investigation", local(2026, 9, 16, 9, 0))
    assert await open_feedback_clocks(fakes) == []
    await on_feedback(fakes, feedback_event("requested", local(2026, 9, 22, 15, 30)))  # after the cut-off
    assert await open_feedback_clocks(fakes) == [("reporter_feedback", local(2026, 9, 23, 12, 0))]
    sent = local(2026, 9, 23, 9, 12)
    await on_feedback(
        fakes, feedback_event("sent", sent), feedback_event("requested", sent + timedelta(hours=1))
    )
    assert fakes.case("R-1").feedback_sent_at == sent and await open_feedback_clocks(fakes) == []
    assert fakes.case("R-1").feedback_due == local(2026, 9, 23, 12, 0)  # a repeated request changes nothing


async def test_feedback_news_assignment_cannot_apply_goes_to_the_dead_letters() -> None:
    fakes = Fakes(RECEIVED)
    await fakes.assign(received("R-1", at=RECEIVED))
    with pytest.raises(PoisonMessage, match="no feedback is due"):
        await on_feedback(fakes, feedback_event("sent", local(2026, 9, 16, 9, 0)))
    with pytest.raises(PoisonMessage, match="no assignment"):
        await on_feedback(fakes, feedback_event("requested", local(2026, 9, 16, 9, 0), "R-none"))
    assert not fakes.case("R-1").feedback_requested


async def test_the_referral_state_and_the_queue_show_the_clock_from_request_to_sent() -> None:
    from tests.unit.test_assignment_api import authenticate  # the edge's token stand-in

    fakes = Fakes(RECEIVED)
    await fakes.assign(received("R-1", at=RECEIVED))
    await decide(fakes, "no_investigation", local(2026, 9, 16, 9, 0))
    app = FastAPI()
    add_problem_handlers(app)
    for router in api.ROUTERS:
        app.include_router(router)
    app.state.assignment = api.AssignmentApi(fakes.unit, fakes.uow, fakes.clock, authenticate)
    head = {"authorization": "Bearer head:head_of_unit"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as client:

        async def shown() -> tuple[Any, Any]:
            state = (await client.get("/v1/referrals/R-1", headers=head)).json()
            queue = (await client.get("/v1/referrals?status=closed", headers=head)).json()
            return state["deadlines"]["reporter_feedback"], queue

        assert (await shown())[0] is None
        await on_feedback(fakes, feedback_event("requested", local(2026, 9, 22, 10, 0)))
        clock, queue = await shown()
        assert (
            datetime.fromisoformat(clock["due_at"]) == local(2026, 9, 22, 17, 0) and clock["met_at"] is None
        )
        [entry] = queue["items"]
        in_queue = entry["deadlines"]["reporter_feedback"]
        assert (
            datetime.fromisoformat(in_queue["due_at"]) == local(2026, 9, 22, 17, 0)
            and in_queue["state"] == "ok"
        )
        await on_feedback(fakes, feedback_event("sent", local(2026, 9, 22, 11, 0)))
        clock, queue = await shown()
        assert datetime.fromisoformat(clock["met_at"]) == local(2026, 9, 22, 11, 0)
        assert queue["items"][0]["deadlines"]["reporter_feedback"]["state"] == "met"
