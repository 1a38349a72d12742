"""The Open ePlatform poller in intake against the fake portal (a separate process)."""

from __future__ import annotations

from datetime import date

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from referral_router.devinfra.procs import stop_process
from services.intake.main import OepSettings
from tests.helpers import eventually
from tests.integration.intake_support import (
    FIXTURES,
    REPO,
    UNMAPPABLE,
    VALID,
    FakePortal,
    by_instance,
    intake_db,
    intake_settings,
    running_intake,
    start_fake_portal,
)


@pytest.fixture
def fake_portal(tmp_path):
    proc, portal = start_fake_portal(tmp_path)
    yield portal
    stop_process(proc)


def oep_settings(portal: FakePortal, password: str = "integration-secret") -> OepSettings:
    return OepSettings(
        base_url=portal.url,
        username="integration",
        password=SecretStr(password),
        families=["101"],
        mapping_path=REPO / "deploy" / "config" / "oeplatform.orosanmalan.yaml",
        start_date=date(2026, 11, 20),
        poll_interval_s=0.2,
        max_attempts=2,
    )


def all_reported(calls: list[dict]) -> bool:
    return set(by_instance(calls)) >= {*VALID, *UNMAPPABLE}


def renumbered(raw: bytes, new_id: int) -> bytes:
    return raw.replace(b"<FlowInstanceID>1005<", f"<FlowInstanceID>{new_id}<".encode())


async def referral_ids(database_url: str, flow_instance_id: int) -> str:
    conn = await intake_db(database_url)
    try:
        rows = await conn.fetch(
            "SELECT referral_id FROM referrals WHERE submission_id ="
            " (SELECT submission_id FROM oep_instances WHERE flow_instance_id = $1) ORDER BY child_index",
            flow_instance_id,
        )
        return ",".join(r["referral_id"] for r in rows)
    finally:
        await conn.close()


async def test_new_instances_are_stored_once_then_confirmed_with_our_ids_and_given_a_status(
    fake_portal, database_url, kafka_broker, topic_prefix
):
    settings = intake_settings(database_url, kafka_broker, topic_prefix, oep=oep_settings(fake_portal))
    rejected_before = rejected_count()
    async with running_intake(settings):
        await eventually(lambda: fake_portal.calls("setStatus"), all_reported, timeout_s=60)
        await fake_portal.add(renumbered((FIXTURES / "1005.xml").read_bytes(), 1010))
        await eventually(
            lambda: fake_portal.calls("setStatus"), lambda c: 1010 in by_instance(c), timeout_s=30
        )
        rounds = len(await fake_portal.calls("getinstances"))
        await eventually(lambda: fake_portal.calls("getinstances"), lambda c: len(c) >= rounds + 3)

    confirmed, statuses = (
        by_instance(await fake_portal.calls("confirmDelivery")),
        by_instance(await fake_portal.calls("setStatus")),
    )
    for instance in (*VALID, 1010):
        [confirm] = confirmed[instance]
        assert confirm["ID"] == await referral_ids(database_url, instance) != ""
        assert (confirm["System"], confirm["delivered"]) == ("referral-router", "true")
        assert [s["statusAlias"] for s in statuses[instance]] == ["Mottagen"]
    for instance in UNMAPPABLE:
        assert instance not in confirmed
        assert [s["statusAlias"] for s in statuses[instance]] == ["Kunde inte tas emot automatiskt"]
        assert await referral_ids(database_url, instance) == ""
    fetched = {c["flow_instance_id"] for c in await fake_portal.calls("getinstance")}
    assert 2001 not in fetched and 1006 not in fetched  # another family; before the start date
    assert rejected_count() - rejected_before == 2  # the metric (this process's registry)

    conn = await intake_db(database_url)
    try:
        states = dict(await conn.fetch("SELECT flow_instance_id, state FROM oep_instances"))
        attempts = dict(await conn.fetch("SELECT flow_instance_id, attempts FROM oep_instances"))
        events = await conn.fetchval("SELECT count(*) FROM outbox")
    finally:
        await conn.close()
    assert states == {
        **dict.fromkeys((*VALID, 1010), "done"),
        **dict.fromkeys(UNMAPPABLE, "rejected_reported"),
    }
    assert [attempts[i] for i in UNMAPPABLE] == [2, 2]
    assert events == 2 + 1 + 3 + 1 + 1  # one event per child of 1001, 1002, 1003, 1005, 1010


async def test_with_wrong_credentials_nothing_is_stored_and_the_rounds_are_counted_as_failed(
    fake_portal, database_url, kafka_broker, topic_prefix
):
    oep = oep_settings(fake_portal, password="wrong")
    async with running_intake(intake_settings(database_url, kafka_broker, topic_prefix, oep=oep)) as intake:

        async def failed_rounds() -> float:
            for line in (await intake.get("/metrics")).text.splitlines():
                if line.startswith('intake_oep_poll_rounds_total{outcome="failed"}'):
                    return float(line.rsplit(" ", 1)[1])
            return 0.0

        before = await failed_rounds()
        await eventually(failed_rounds, lambda n: n >= before + 2)
        assert (await intake.get("/readyz")).status_code == 200
    assert await fake_portal.calls() == []
    conn = await intake_db(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM submissions") == 0
    finally:
        await conn.close()


async def test_a_refused_status_leaves_the_instance_delivered_and_is_retried_without_confirming_again(
    fake_portal, database_url, kafka_broker, topic_prefix
):
    oep = oep_settings(fake_portal).model_copy(update={"status_received": "Finns inte"})
    faults_before = _faults()
    async with running_intake(intake_settings(database_url, kafka_broker, topic_prefix, oep=oep)):
        # Each of the four valid instances is refused in one round and retried in a later one.
        await eventually(_faults_now, lambda n: n >= faults_before + 8)
    confirmed = by_instance(await fake_portal.calls("confirmDelivery"))
    assert {i: len(confirmed[i]) for i in VALID} == dict.fromkeys(VALID, 1)
    conn = await intake_db(database_url)
    try:
        states = dict(await conn.fetch("SELECT flow_instance_id, state FROM oep_instances"))
    finally:
        await conn.close()
    assert {states[i] for i in VALID} == {"delivered"}


def _faults() -> float:
    return REGISTRY.get_sample_value("intake_oep_callbacks_total", {"call": "any", "outcome": "fault"}) or 0.0


async def _faults_now() -> float:
    return _faults()


def rejected_count() -> float:
    return REGISTRY.get_sample_value("intake_oep_instances_total", {"outcome": "rejected"}) or 0.0
