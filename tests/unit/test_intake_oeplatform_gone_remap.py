"""The poller on the in-memory fakes: an instance the portal no longer knows is gone (alerted,
never asked for again); a failed instance's raw document is kept encrypted and re-mapped into
one submission once the mapping is fixed; failed rounds back off."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from services.intake.adapters.memory import IntakeTables
from services.intake.domain.open_eplatform import (
    InstanceRejected,
    InstanceState,
    raw_associated_data,
    retry_delay,
)
from services.intake.handlers.open_eplatform import PollTally, remap
from services.intake.handlers.submissions import reencrypt_all
from services.intake.ports import CallbackFault
from shared.clock import FixedClock
from tests.intake_fakes import FakePortal, ids_of, keys, portal_form
from tests.unit.test_intake_open_eplatform import FAMILY, RECEIVED, T1, T2, polling, rounds, states

RAW = "<FlowInstance>synthetic: Märta Påhittad</FlowInstance>".encode("iso-8859-1")
UNMAPPED = "question 'oroOmraden': 1 answer(s) not in the mapping"


@pytest.fixture
def tables() -> IntakeTables:
    return IntakeTables()


@pytest.fixture
def portal() -> FakePortal:
    return FakePortal()


async def test_an_instance_the_portal_no_longer_has_is_gone_alerted_and_never_fetched_again(
    tables, portal, caplog
):
    portal.add(FAMILY, InstanceRejected("the portal does not know the instance", gone=True), 4933)
    poll = polling(tables, portal)
    with caplog.at_level(logging.ERROR):
        tally = await rounds(poll, 3)
    assert states(tables) == {4933: InstanceState.GONE}
    assert tally.instances == {"gone": 1}
    assert ids_of(portal.made("getinstance")) == [4933]
    assert portal.made("setStatus") == []
    gone = [r for r in caplog.records if r.message == "open eplatform instance gone from the portal"]
    assert [r.flow_instance_id for r in gone] == [4933]  # type: ignore[attr-defined]


async def test_a_not_found_fault_on_a_callback_ends_its_retries_as_gone(tables, portal):
    portal.add(FAMILY, portal_form(4932, T1), 4932)
    portal.fail["confirmDelivery", 4932] = CallbackFault(
        "confirmDelivery: S:Server The requested flow instance with ID 4932 was not found", instance_gone=True
    )
    poll = polling(tables, portal)
    tally = await rounds(poll, 3)
    assert states(tables) == {4932: InstanceState.GONE}
    assert tally.instances == {"stored": 1, "gone": 1}
    assert tally.callbacks == {("any", "fault"): 1}
    assert tables.oep_instances[4932].last_error.endswith("with ID 4932 was not found")  # the fault's text
    assert portal.made("confirmDelivery") == portal.made("setStatus") == []


async def test_another_fault_is_retried_the_next_round(tables, portal):
    portal.add(FAMILY, portal_form(4932, T1), 4932)
    portal.fail["setStatus", 4932] = CallbackFault("setStatus: S:Server Status with alias Mottagen not found")
    await rounds(polling(tables, portal), 2)
    assert states(tables) == {4932: InstanceState.DONE}
    assert portal.made("setStatus") == [(4932, RECEIVED)]


async def test_a_failed_instance_keeps_its_raw_document_encrypted_and_is_remapped_into_one_submission(
    tables, portal
):
    portal.add(FAMILY, InstanceRejected(UNMAPPED, T2, raw=RAW, charset="ISO-8859-1"), 4965)
    poll = polling(tables, portal, max_attempts=2)
    await rounds(poll, 3)
    row = tables.oep_instances[4965]
    assert row.state is InstanceState.REJECTED_REPORTED and row.raw is not None
    charset, key_id, blob = row.raw
    assert charset == "ISO-8859-1" and RAW not in blob
    assert keys().cipher.decrypt(key_id, blob, raw_associated_data(4965)) == RAW

    still = await remap(poll, PollTally())  # the mapping is not fixed yet
    assert (still.imported, still.failing) == ([], {4965: UNMAPPED})
    assert portal.made("read_form") == [(4965, RAW.decode("iso-8859-1"))]

    portal.forms[4965] = portal_form(4965, T2)  # the mapping fixed
    tally = PollTally()
    outcome = await remap(poll, tally)
    assert (outcome.imported, outcome.failing) == ([4965], {})
    assert states(tables) == {4965: InstanceState.DONE}
    assert tables.oep_instances[4965].raw is None  # its original is the submission's document now
    assert len(tables.submissions) == 1
    assert portal.made("confirmDelivery")[0][0] == 4965 and portal.made("setStatus")[-1] == (4965, RECEIVED)

    assert (await remap(poll, PollTally())).imported == []  # nothing left to re-map
    await rounds(poll, 2)  # and the poller meeting it again stores nothing new
    assert len(tables.submissions) == 1 and ids_of(portal.made("getinstance")) == [4965, 4965]


@pytest.mark.parametrize(
    ("failed", "delay"), [(0, 30.0), (1, 60.0), (2, 120.0), (4, 480.0), (5, 600.0), (60, 600.0)]
)
def test_failed_rounds_in_a_row_double_the_pause_up_to_the_cap(failed, delay):
    assert retry_delay(30.0, failed, 600.0) == delay


async def test_the_rekey_re_encrypts_kept_raw_documents_so_the_old_key_can_go(tables, portal):
    portal.add(FAMILY, InstanceRejected(UNMAPPED, T2, raw=RAW, charset="ISO-8859-1"), 4965)
    await rounds(polling(tables, portal, max_attempts=2))
    rotated = keys("k2", k2=b"\x02" * 32).cipher
    uow = polling(tables, portal).unit_of_work

    assert await reencrypt_all(uow, rotated, batch_size=5) == 1
    assert await reencrypt_all(uow, rotated, batch_size=5) == 0
    charset, key_id, blob = tables.oep_instances[4965].raw or (None, "", b"")
    assert (charset, key_id) == ("ISO-8859-1", "k2")
    assert rotated.decrypt("k2", blob, raw_associated_data(4965)) == RAW


async def test_with_list_days_an_empty_past_window_moves_the_cursor_on_and_to_date_is_asked(tables, portal):
    poll = polling(tables, portal)
    poll = replace(
        poll, config=replace(poll.config, list_days=3), clock=FixedClock(datetime(2026, 12, 1, tzinfo=UTC))
    )
    await rounds(poll, 3)
    assert portal.listed_from == [date(2026, 11, 20), date(2026, 11, 23), date(2026, 11, 26)]
    assert portal.listed_to == [date(2026, 11, 23), date(2026, 11, 26), date(2026, 11, 29)]
