"""The Open ePlatform poll on the in-memory fakes and a fake portal (DOMAIN.md §4).

New instances stored once, confirmed with our referral ids and given a status; an instance that
cannot be taken retried, then rejected and reported; a round killed between any two steps
resumes at the first step not recorded, without doing anything twice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.intake.adapters.memory import InMemoryIntakeUnitOfWork, InMemoryPollerTurn, IntakeTables
from services.intake.domain.open_eplatform import InstanceRejected, InstanceState
from services.intake.handlers.open_eplatform import OepPolling, PollerConfig, PollTally, poll_round
from services.intake.handlers.submissions import receive_submission
from services.intake.ports import CallbackFault, PortalUnavailable
from tests.intake_fakes import FakePortal, ProcessKilled, clock, ids_of, keys, portal_form

FAMILY = "101"
START = datetime(2026, 11, 19, 23, 0, tzinfo=UTC)  # 2026-11-20 00:00 in Stockholm
T1, T2, T3 = (datetime(2026, 11, 20, 9, 0, tzinfo=UTC) + timedelta(hours=h) for h in (0, 1, 2))
RECEIVED, REJECTED = "Mottagen", "Kunde inte tas emot automatiskt"


@pytest.fixture
def tables() -> IntakeTables:
    return IntakeTables()


@pytest.fixture
def portal() -> FakePortal:
    return FakePortal()


def polling(tables: IntakeTables, portal: FakePortal, max_attempts: int = 2) -> OepPolling:
    config = PollerConfig(families=(FAMILY,), start=START, max_attempts=max_attempts)
    turn = InMemoryPollerTurn()
    return OepPolling(lambda: InMemoryIntakeUnitOfWork(tables), portal, turn, config, keys(), clock())


async def rounds(poll: OepPolling, n: int = 1) -> PollTally:
    tally = PollTally()
    for _ in range(n):
        await poll_round(poll, tally)
    return tally


def states(tables: IntakeTables) -> dict[int, InstanceState]:
    return {iid: row.state for iid, row in tables.oep_instances.items()}


def referral_ids(tables: IntakeTables, flow_instance_id: int) -> str:
    receipt = tables.submissions[str(tables.oep_instances[flow_instance_id].submission_id)].receipt
    return ",".join(r.referral_id for r in receipt.referrals)


async def test_a_new_instance_is_stored_once_then_confirmed_with_our_ids_and_given_a_status(tables, portal):
    portal.add(FAMILY, portal_form(1001, T1, children=2), 1001)
    tally = await rounds(polling(tables, portal), 3)

    assert states(tables) == {1001: InstanceState.DONE}
    assert portal.made("confirmDelivery") == [(1001, f"{referral_ids(tables, 1001)}|referral-router")]
    assert portal.made("setStatus") == [(1001, RECEIVED)]
    assert ids_of(portal.made("getinstance")) == [1001]
    assert len(tables.outbox) == 2  # one referral.received per child
    assert tables.submissions[str(tables.oep_instances[1001].submission_id)].receipt.received_at == T1
    assert tally.instances == {"stored": 1}
    assert tally.callbacks == {("confirmDelivery", "ok"): 1, ("setStatus", "ok"): 1}


async def test_the_cursor_moves_to_the_newest_instance_and_listing_starts_from_its_local_date(tables, portal):
    portal.add(FAMILY, portal_form(1001, T1), 1001)
    portal.add(FAMILY, portal_form(1002, T3), 1002)
    await rounds(polling(tables, portal), 2)

    assert tables.oep_cursors[FAMILY] == T3
    assert portal.listed_from == [date(2026, 11, 20), date(2026, 11, 20)]
    assert ids_of(portal.made("getinstance")) == [1001, 1002]


async def test_an_instance_that_cannot_be_taken_is_retried_then_rejected_and_reported_once(tables, portal):
    portal.add(FAMILY, InstanceRejected("question 'oroOmraden': 1 answer(s) not in the mapping", T2), 1004)
    poll = polling(tables, portal, max_attempts=2)

    first = await rounds(poll)
    assert states(tables) == {1004: InstanceState.RECEIVED}
    assert portal.made("setStatus") == []
    assert first.instances == {"failed_attempt": 1}
    assert tables.oep_instances[1004].last_error == "question 'oroOmraden': 1 answer(s) not in the mapping"

    second = await rounds(poll, 3)
    assert states(tables) == {1004: InstanceState.REJECTED_REPORTED}
    assert (tables.oep_instances[1004].attempts, second.instances) == (2, {"rejected": 1})
    assert portal.made("setStatus") == [(1004, REJECTED)]
    assert portal.made("confirmDelivery") == []
    assert ids_of(portal.made("getinstance")) == [1004, 1004]
    assert tables.submissions == {} and tables.outbox == []


async def test_the_cursor_never_passes_an_instance_still_retried(tables, portal):
    portal.add(FAMILY, InstanceRejected("unmappable", T1), 1004)
    portal.add(FAMILY, portal_form(1005, T3), 1005)
    poll = polling(tables, portal, max_attempts=3)
    await rounds(poll)
    assert tables.oep_cursors[FAMILY] == T1

    await rounds(poll, 2)  # rejected on the third attempt: nothing holds the cursor back any more
    assert tables.oep_cursors[FAMILY] == T3


async def test_an_unreadable_instance_without_a_time_keeps_the_cursor_where_it_was(tables, portal):
    portal.add(FAMILY, portal_form(1001, T1), 1001)
    poll = polling(tables, portal, max_attempts=3)
    await rounds(poll)
    portal.add(FAMILY, InstanceRejected("not well-formed XML (line 1)"), 1009)
    await rounds(poll)
    assert tables.oep_cursors[FAMILY] == T1 and states(tables)[1009] is InstanceState.RECEIVED


@pytest.mark.parametrize(
    ("killed_at", "fetches", "confirms"),
    [
        (("getinstance", 1002), {1001: 1, 1002: 2}, 1),  # mid-fetch: fetched again, stored once
        (("confirmDelivery", 1002), {1001: 1, 1002: 1}, 1),  # stored, not confirmed: confirmed next
        (("setStatus", 1002), {1001: 1, 1002: 1}, 1),  # confirmed, no status: status only next
    ],
)
async def test_a_round_killed_between_steps_resumes_at_the_first_step_not_recorded(
    tables, portal, killed_at, fetches, confirms
):
    portal.add(FAMILY, portal_form(1001, T1), 1001)
    portal.add(FAMILY, portal_form(1002, T2, children=3), 1002)
    portal.fail[killed_at] = ProcessKilled()
    with pytest.raises(ProcessKilled):
        await rounds(polling(tables, portal))
    assert states(tables)[1001] is InstanceState.DONE

    await rounds(polling(tables, portal), 2)  # a new process, a fresh turn

    assert states(tables) == {1001: InstanceState.DONE, 1002: InstanceState.DONE}
    made = ids_of(portal.made("getinstance"))
    assert {i: made.count(i) for i in (1001, 1002)} == fetches
    assert ids_of(portal.made("confirmDelivery")).count(1002) == confirms
    assert portal.made("setStatus") == [(1001, RECEIVED), (1002, RECEIVED)]
    assert len(tables.submissions) == 2 and len(tables.outbox) == 1 + 3


async def test_a_refused_status_leaves_the_instance_delivered_and_is_retried_without_confirming_again(
    tables, portal
):
    portal.add(FAMILY, portal_form(1001, T1), 1001)
    portal.fail["setStatus", 1001] = CallbackFault("setStatus: StatusNotFound")
    poll = polling(tables, portal)
    first = await rounds(poll)
    assert states(tables) == {1001: InstanceState.DELIVERED}
    assert first.callbacks == {("confirmDelivery", "ok"): 1, ("any", "fault"): 1}

    await rounds(poll)
    assert states(tables) == {1001: InstanceState.DONE}
    assert ids_of(portal.made("confirmDelivery")) == [1001]


async def test_an_unreachable_portal_fails_the_round_and_the_next_one_resumes(tables, portal):
    portal.add(FAMILY, portal_form(1001, T1), 1001)
    portal.fail["getinstances", 0] = PortalUnavailable("HTTP 503")
    poll = polling(tables, portal)
    with pytest.raises(PortalUnavailable):
        await rounds(poll)
    assert tables.oep_instances == {}

    await rounds(poll)
    assert states(tables) == {1001: InstanceState.DONE}


async def test_an_instance_whose_submission_id_was_used_with_another_body_is_a_failed_attempt(tables, portal):
    form = portal_form(1001, T1)
    portal.add(FAMILY, form, 1001)
    other = portal_form(1001, T1, children=2)  # the same submission id, another body, stored before
    await receive_submission(
        InMemoryIntakeUnitOfWork(tables), other.submission, other.details, f"oep:{FAMILY}", keys(), clock()
    )
    tally = await rounds(polling(tables, portal, max_attempts=2))

    assert states(tables) == {1001: InstanceState.RECEIVED} and tally.instances == {"failed_attempt": 1}
    assert "another body" in (tables.oep_instances[1001].last_error or "")
    assert portal.made("confirmDelivery") == []


async def test_a_submission_stored_before_its_state_was_recorded_is_replayed_and_confirmed_with_its_ids(
    tables, portal
):
    form = portal_form(1001, T1)
    portal.add(FAMILY, form, 1001)
    # As a poller that stored the submission and died before recording the instance's state.
    first = await receive_submission(
        InMemoryIntakeUnitOfWork(tables), form.submission, form.details, f"oep:{FAMILY}", keys(), clock()
    )
    tally = await rounds(polling(tables, portal))

    assert tally.instances == {"replayed": 1}
    ids = ",".join(r.referral_id for r in first.receipt.referrals)
    assert portal.made("confirmDelivery") == [(1001, f"{ids}|referral-router")]
    assert len(tables.outbox) == 1


async def test_a_round_while_another_poller_holds_the_turn_does_nothing(tables, portal):
    portal.add(FAMILY, portal_form(1001, T1), 1001)
    poll = polling(tables, portal)
    async with poll.turn.hold() as ours:
        assert ours
        await rounds(poll)
    assert portal.calls == [] and tables.oep_instances == {}
