"""Open ePlatform end to end: fake portal → intake (killed mid-batch) → assignment, exactly once."""

from __future__ import annotations

import json
import uuid

import asyncpg
import httpx

from referral_router.devinfra.procs import stop_process
from referral_router.stack import REPO, ServiceConfig, ServiceProcesses
from tests.conftest import create_database, drop_database
from tests.e2e.conftest import free_ports
from tests.helpers import eventually
from tests.integration.intake_support import UNMAPPABLE, VALID, by_instance, start_fake_portal

SECRETS = {"key_id": "e2e-1", "key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "pepper": "e2e-pepper"}


def oep_env(portal_url: str) -> dict[str, str]:
    return {
        "OEP__BASE_URL": portal_url,
        "OEP__USERNAME": "integration",
        "OEP__PASSWORD": "integration-secret",
        "OEP__FAMILIES": json.dumps(["101"]),
        "OEP__MAPPING_PATH": str(REPO / "deploy" / "config" / "oeplatform.orosanmalan.yaml"),
        "OEP__START_DATE": "2026-11-20",
        "OEP__POLL_INTERVAL_S": "0.3",
        "OEP__MAX_ATTEMPTS": "2",
        "PORTAL__MAX_AGE_DAYS": "3650",  # the fixtures were submitted in November 2026
        "OUTBOX__POLL_INTERVAL_S": "0.3",
    }


async def fetch_column(database_url: str, schema: str, sql: str) -> list:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        return [r[0] for r in await conn.fetch(sql)]
    finally:
        await conn.close()


async def test_instances_are_assigned_and_confirmed_exactly_once_though_the_poller_is_killed_mid_batch(
    postgres_server, kafka_broker, tmp_path
):
    fake, portal = start_fake_portal(tmp_path, "--fetch-delay-s", "1.5")
    name = f"oep_{uuid.uuid4().hex[:10]}"
    database_url = await create_database(postgres_server, name)
    config = ServiceConfig(
        database_url=database_url, bootstrap=kafka_broker.bootstrap, flavour=kafka_broker.flavour,
        ports=free_ports(), secrets=SECRETS, topic_prefix=f"o{uuid.uuid4().hex[:8]}.",
        extra_env={**oep_env(portal.url), **kafka_broker.service_env()},
    )  # fmt: skip
    services = ServiceProcesses(config, tmp_path / "logs")
    try:
        services.start("assignment")
        services.start("intake")
        # The third fetch is in flight (the portal answers slowly): the first two are done.
        await eventually(
            lambda: portal.calls("getinstance"), lambda c: VALID[2] in by_instance_ids(c), timeout_s=60
        )
        services.kill("intake")
        done_before_kill = set(by_instance(await portal.calls("setStatus")))
        async with httpx.AsyncClient() as client:
            await client.post(f"{portal.url}/control", json={"fetch_delay_s": 0})
        services.start("intake")
        await eventually(
            lambda: portal.calls("setStatus"),
            lambda c: set(by_instance(c)) >= {*VALID, *UNMAPPABLE},
            timeout_s=60,
        )
        referral_ids = await fetch_column(database_url, "intake", "SELECT referral_id FROM referrals")
        assigned = await eventually(
            lambda: fetch_column(database_url, "assignment", "SELECT referral_id FROM assignments"),
            lambda ids: set(ids) >= set(referral_ids),
            timeout_s=60,
        )
        calls = await portal.calls()
        intake_log = services.log("intake")
    finally:
        services.stop_all()
        stop_process(fake)
        await drop_database(postgres_server, name)

    assert done_before_kill >= {VALID[0], VALID[1]}
    assert sorted(assigned) == sorted(referral_ids) and len(referral_ids) == 2 + 1 + 3 + 1
    confirmed = by_instance([c for c in calls if c["op"] == "confirmDelivery"])
    statuses = by_instance([c for c in calls if c["op"] == "setStatus"])
    assert {i: len(confirmed[i]) for i in VALID} == dict.fromkeys(VALID, 1)
    assert {i: len(statuses[i]) for i in (*VALID, *UNMAPPABLE)} == dict.fromkeys((*VALID, *UNMAPPABLE), 1)
    assert sorted(",".join(c["ID"] for i in VALID for c in confirmed[i]).split(",")) == sorted(referral_ids)
    assert [value for value in personal_details_in_fixtures() if value in intake_log] == []
    fetches = [c["flow_instance_id"] for c in calls if c["op"] == "getinstance"]
    assert fetches.count(VALID[0]) == 1 and fetches.count(VALID[2]) == 2  # resumed, nothing redone


def personal_details_in_fixtures() -> set[str]:
    """Full names, identity numbers, emails and phones in the fixtures (10-digit forms too)."""
    import re

    from tests.integration.intake_support import FIXTURES

    found: set[str] = set()
    for path in FIXTURES.glob("*.xml"):
        text = path.read_bytes().decode("iso-8859-1")
        fields = re.findall(r"<(\w+)><!\[CDATA\[(.*?)\]\]></\1>", text)
        values = dict.fromkeys(("firstname", "lastname", "citizenIdentifier", "email", "phone"))
        first = None
        for tag, value in fields:
            if tag == "firstname":
                first = value
            elif tag == "lastname" and first:
                found.add(f"{first} {value}")
            elif tag in values and value.strip("*"):
                found.update({value, value[2:]} if tag == "citizenIdentifier" else {value})
    assert len(found) > 10
    return found


def by_instance_ids(calls: list[dict]) -> set[int]:
    return {c["flow_instance_id"] for c in calls}
