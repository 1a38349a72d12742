"""One referral through all four services, each a separate process (issue 2, points 2 and 3)."""

from __future__ import annotations

import json
import shutil

import httpx

from referral_router.devinfra.procs import free_port, spawn, stop_process, wait_for_http
from shared.events import TOPIC_ASSIGNED, TOPIC_RECEIVED
from tests.factories import encode, submission
from tests.helpers import eventually, produce, read_topic, signed_headers


async def post(stack, body: dict) -> httpx.Response:
    raw = encode(body)
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(
            stack.services.url("intake", "/v1/referrals"), content=raw, headers=signed_headers(raw)
        )


def emails_about(emails: list[dict], referral_id: str) -> list[dict]:
    return [m for m in emails if referral_id in m["subject"]]


def assigned_events_for(records, referral_id: str) -> set[str]:
    return {v["event_id"] for _, v, _, _ in records if v["data"]["referral_id"] == referral_id}


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_one_signed_post_gives_one_assignment_one_email_and_both_counters(stack):
    before = await stack.metrics_text()
    response = await post(stack, submission())
    assert response.status_code == 202, response.text
    referral_id = response.json()["referrals"][0]["referral_id"]

    mails = await eventually(stack.emails, lambda ms: len(emails_about(ms, referral_id)) >= 1, timeout_s=10)
    records = await read_topic(stack.broker.bootstrap, stack.topic(TOPIC_ASSIGNED), expect=1)
    assert len(assigned_events_for(records, referral_id)) == 1
    assert len(emails_about(mails, referral_id)) == 1
    after = await eventually(
        stack.metrics_text,
        lambda t: metric(t, "referrals_assigned_total") > metric(before, "referrals_assigned_total"),
    )
    assert metric(after, "referrals_received_total", kind="report", channel="e_service") == (
        metric(before, "referrals_received_total", kind="report", channel="e_service") + 1
    )
    assert metric(after, "referrals_assigned_total", reason="rotation") == (
        metric(before, "referrals_assigned_total", reason="rotation") + 1
    )


async def test_the_same_received_event_delivered_twice_gives_one_assignment_and_one_email(stack):
    response = await post(stack, submission())
    referral_id = response.json()["referrals"][0]["referral_id"]
    await eventually(stack.emails, lambda ms: len(emails_about(ms, referral_id)) == 1)
    received = await read_topic(stack.broker.bootstrap, stack.topic(TOPIC_RECEIVED), expect=1)
    original = next((k, v) for k, v, _, _ in received if v["data"]["referral_id"] == referral_id)
    await produce(
        stack.broker.bootstrap, stack.topic(TOPIC_RECEIVED), [(original[0], json.dumps(original[1]).encode())]
    )
    # A later referral on the same path proves the redelivered one has been handled by now.
    marker = (await post(stack, submission())).json()["referrals"][0]["referral_id"]
    mails = await eventually(stack.emails, lambda ms: len(emails_about(ms, marker)) == 1)

    assert len(emails_about(mails, referral_id)) == 1
    conn = await stack.db("assignment")
    try:
        assert (
            await conn.fetchval("SELECT count(*) FROM assignments WHERE referral_id = $1", referral_id) == 1
        )
        assert (
            await conn.fetchval("SELECT count(*) FROM inbox WHERE message_id = $1", original[1]["event_id"])
            == 1
        )
    finally:
        await conn.close()
    records = await read_topic(stack.broker.bootstrap, stack.topic(TOPIC_ASSIGNED), expect=2)
    assert len(assigned_events_for(records, referral_id)) == 1


async def test_the_notifications_service_counts_its_deliveries_by_status(stack):
    response = await post(stack, submission())
    referral_id = response.json()["referrals"][0]["referral_id"]
    await eventually(stack.emails, lambda ms: len(emails_about(ms, referral_id)) == 1)
    async with httpx.AsyncClient() as client:
        text = (await client.get(stack.services.url("notifications", "/metrics"))).text
    assert metric(text, "notification_deliveries", channel="email", status="sent") >= 1
    assert metric(text, "notification_deliveries", channel="email", status="unknown") == 0
    assert metric(text, "outbox_published_total", service="notifications") >= 1


async def test_a_real_prometheus_scrapes_the_services_and_answers_queries(stack, tmp_path):
    prometheus = shutil.which("prometheus")
    assert prometheus, "install Debian's prometheus package (.ci/run does)"
    port = free_port()
    targets = [
        f"127.0.0.1:{stack.ports.http(s)}" for s in ("intake", "assignment", "notifications", "metrics")
    ]
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs: [{{job_name: referral-router, static_configs: [{{targets: {targets}}}]}}]\n"
    )
    proc = spawn(
        "prometheus",
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        tmp_path / "prometheus.log",
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/-/ready", 30, proc=proc)
        response = await post(stack, submission())
        referral_id = response.json()["referrals"][0]["referral_id"]
        await eventually(stack.emails, lambda ms: len(emails_about(ms, referral_id)) == 1)

        async def query(promql: str) -> list[dict]:
            async with httpx.AsyncClient() as client:
                response = await client.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": promql})
            return response.json()["data"]["result"]

        async def direct_and_scraped() -> tuple[float, float | None]:
            direct = metric(await stack.metrics_text(), "referrals_assigned_total")
            result = await query("sum(referrals_assigned_total)")
            return direct, float(result[0]["value"][1]) if result else None

        # The metrics service projects asynchronously; wait until Prometheus has scraped its value.
        direct, scraped = await eventually(
            direct_and_scraped, lambda v: v[0] >= 1 and v[1] == v[0], timeout_s=30
        )
        assert scraped == direct
        up = await eventually(lambda: query("up"), lambda r: len(r) == 4, timeout_s=30)
        assert all(r["value"][1] == "1" for r in up)
        on_duty = await query("referrals_received_total")
        assert on_duty, "domain metrics reach Prometheus"
    finally:
        stop_process(proc)
