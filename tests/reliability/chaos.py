"""Chaos harness (issue 7): steady portal load while services, the broker and Postgres fail.

One module serves the short run in `make test` (tests/reliability/test_chaos.py) and the long run
`python -m tests.reliability.chaos --long --report docs/RELIABILITY.md` (`make chaos`).

The harness owns all of its infrastructure, so a stop/start is real and no other test is disturbed:
its own Postgres (fsync on), its own broker (Apache Kafka in its own workdir, restarted on the same
port with its data; or Tansu, whose memory storage cannot survive a restart, so that step is skipped
with the reason recorded), the SMTP sink and the four services as separate processes.

A portal client posts signed submissions at a steady rate and, like a real portal, retries the
same body (same submission id, fresh signature) after a 5xx or a connection error until it gets
202/200. Meanwhile a seeded schedule SIGKILLs and restarts each service, restarts the broker and
stops and starts Postgres. Once everything is quiet the checks read the databases, every topic and
the SMTP sink and count: one referral per child, one assignment and one distinct decision per
referral, at most one delivery per event x recipient x channel and one email per sent delivery,
agreeing counts across topics, nothing dead-lettered, nothing left in an outbox.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition

from referral_router.devinfra.postgres import LocalPostgres
from referral_router.devinfra.procs import free_port, spawn, stop_process, wait_for_http
from referral_router.devinfra.tansu import LocalTansu
from referral_router.stack import REPO, SERVICES, Ports, ServiceConfig, ServiceProcesses
from referral_router.synthetic_data import submission
from shared.events import (
    TOPIC_ASSIGNED,
    TOPIC_DEADLETTER,
    TOPIC_NOTIFICATIONS,
    TOPIC_RECEIVED,
)
from tests.conftest import SERVICE_SESSION_TIMEOUT_MS
from tests.factories import encode
from tests.helpers import signed_headers

# One email per referral (to the caseworker), no escalation, no quiet hours: every message the
# sink holds can be matched to exactly one delivery row.
NOTIFICATIONS = {
    # Only the assignment email: the keys added in issue 19 would otherwise get their defaults
    # (registration reminders and breaches, which depend on the hour the run happens at).
    "routes": {
        "referral.assigned": ["caseworker"],
        "registration.approaching": [],
        "registration.breached": [],
        "access.break_glass": [],
        "access.review": [],
    },
    "quiet_hours": {"enabled": False},
    "escalation": {"enabled": False},
}
SECRETS = {
    "key_id": "chaos-1",
    "key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    "pepper": "chaos-pepper",
}
# Shorter waits than production so recovery is quick to observe; the mechanisms are the same.
SERVICE_ENV = {
    "OUTBOX__POLL_INTERVAL_S": "0.5",
    "OUTBOX__MAX_BACKOFF_S": "2",
    "WORKER__POLL_INTERVAL_S": "0.5",
    "WORKER__LEASE_S": "10",
    "LOG__LEVEL": "INFO",
    # Its own broker either way, so the short session of tests/conftest.py holds (a service
    # restart joins in about 1.5 s on Tansu, not 5; a killed member leaves sooner).
    "KAFKA__SESSION_TIMEOUT_MS": str(SERVICE_SESSION_TIMEOUT_MS),
}
SCHEMAS = ("intake", "assignment", "notifications", "metrics")
FINAL_DELIVERY = ("sent", "failed", "unknown")


@dataclass(frozen=True)
class Plan:
    """How much load and which faults."""

    name: str
    submissions: int
    rate_per_s: float
    kills_per_service: int
    broker_restarts: int
    postgres_restarts: int
    seed: int
    multi_child_share: float = 0.2
    acute_share: float = 0.05
    replay_share: float = 0.05  # posted again after the 202, as a portal that lost the answer would
    backlog: int = 0
    backlog_concurrency: int = 24
    drain_timeout_s: float = 240.0
    backlog_timeout_s: float = 1200.0


SHORT = Plan("short", submissions=160, rate_per_s=6.0, kills_per_service=1, broker_restarts=1,
             postgres_restarts=1, seed=20261122)  # fmt: skip
LONG = Plan("long", submissions=1700, rate_per_s=6.0, kills_per_service=4, broker_restarts=3,
            postgres_restarts=3, seed=7, backlog=20_000, drain_timeout_s=600.0)  # fmt: skip


@dataclass
class Fault:
    """One injected fault: what, when (seconds from the start of the load) and how long it took."""

    kind: str
    target: str
    at_s: float
    recovered_s: float | None = None
    note: str = ""

    @property
    def outage_s(self) -> float | None:
        """Seconds from the fault until the part was back (ready)."""
        return None if self.recovered_s is None else self.recovered_s - self.at_s


@dataclass
class Posted:
    """One submission as the portal saw it."""

    submission_id: str
    children: int
    raw: bytes
    attempts: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    status: int | None = None
    reference: str | None = None  # intake's own id for it, from the answer
    referral_ids: list[str] = field(default_factory=list)
    latency_s: float | None = None
    replay: bool = False
    replay_status: int | None = None
    replay_ids: list[str] = field(default_factory=list)


@dataclass
class Check:
    """One verified property with the counts behind it."""

    name: str
    ok: bool
    detail: str


@dataclass
class Phase:
    """A load phase: what was offered and what the portal saw."""

    name: str
    submissions: int
    referrals: int
    duration_s: float
    rate_per_s: float
    answers: dict[str, int]
    retried_submissions: int
    max_attempts: int
    max_latency_s: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChaosResult:
    """Everything a run found, for the test's asserts and for docs/RELIABILITY.md."""

    plan: Plan
    broker: str
    started_at: str
    duration_s: float = 0.0
    phases: list[Phase] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    command: str = ""
    commit: str = ""
    posted: list[Posted] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        """True when every check held."""
        return bool(self.checks) and all(c.ok for c in self.checks)

    def failures(self) -> list[Check]:
        """The checks that did not hold."""
        return [c for c in self.checks if not c.ok]


class ChaosStack:
    """Postgres, broker, SMTP sink and the four services, all owned by this harness."""

    def __init__(self, workdir: Path, flavour: str) -> None:
        self.workdir = workdir
        self.flavour = flavour
        self.postgres = LocalPostgres(workdir / "pg" / "data", free_port(), fsync=True,
                                      log_path=workdir / "postgres.log")  # fmt: skip
        self.broker: Any = None
        self.bootstrap = ""
        self.ports = Ports(kafka=0, postgres=self.postgres.port, intake=free_port(),
                           assignment=free_port(), notifications=free_port(), metrics=free_port(),
                           smtp=free_port(), smtp_http=free_port(), teams=free_port())  # fmt: skip
        self.prefix = "chaos."
        self.database_url = ""
        self.services: ServiceProcesses | None = None
        self._sink: subprocess.Popen[bytes] | None = None

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start everything and wait until every service is ready (blocking)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.postgres.start()
        self.database_url = self.postgres.create_database("chaos")
        self.bootstrap = self._start_broker()
        self._sink = spawn(
            "smtp-sink",
            [sys.executable, "-m", "referral_router.devinfra.smtp_sink",
             "--smtp-port", str(self.ports.smtp), "--http-port", str(self.ports.smtp_http)],
            self.workdir / "smtp-sink.log", cwd=REPO,
        )  # fmt: skip
        wait_for_http(f"http://127.0.0.1:{self.ports.smtp_http}/healthz", 30, proc=self._sink)
        config = ServiceConfig(
            database_url=self.database_url, bootstrap=self.bootstrap, flavour=self.flavour,
            ports=self.ports, secrets=SECRETS, unit_config=self._unit_config(),
            topic_prefix=self.prefix, extra_env=SERVICE_ENV,
        )  # fmt: skip
        self.services = ServiceProcesses(config, self.workdir / "logs")
        self.services.start_all(timeout_s=180)

    def stop(self) -> None:
        """Stop everything this stack started, services first."""
        if self.services is not None:
            self.services.stop_all()
        if self._sink is not None:
            stop_process(self._sink)
            self._sink = None
        if self.broker is not None:
            self.broker.stop()
        self.postgres.stop("fast")

    def _start_broker(self) -> str:
        if self.flavour == "apache":
            from referral_router.stack import ApacheKafka

            self.broker = ApacheKafka(self.workdir / "kafka")
        else:
            self.broker = LocalTansu(free_port(), self.workdir / "tansu.log")
        bootstrap: str = self.broker.start()
        return bootstrap

    def _unit_config(self) -> Path:
        raw = yaml.safe_load((REPO / "deploy/config/unit.example.yaml").read_text("utf-8"))
        raw["notifications"] = NOTIFICATIONS
        path = self.workdir / "unit.yaml"
        path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
        return path

    # -- faults -------------------------------------------------------------------------------
    @property
    def procs(self) -> ServiceProcesses:
        """The service processes (after start)."""
        assert self.services is not None
        return self.services

    def kill_and_restart(self, service: str, down_s: float) -> None:
        """SIGKILL one service, leave it dead for `down_s`, start it and wait until ready."""
        self.procs.kill(service)
        time.sleep(down_s)
        self.procs.start(service, timeout_s=180)

    def restart_broker(self, down_s: float, crash: bool) -> str:
        """Stop (or SIGKILL) the Apache broker and start it again on the same port and data."""
        if crash:
            self.broker.kill()
        else:
            self.broker.stop()
        time.sleep(down_s)
        bootstrap: str = self.broker.start()
        if bootstrap != self.bootstrap:
            raise RuntimeError(f"broker came back on {bootstrap}, not {self.bootstrap}")
        return "SIGKILL" if crash else "SIGTERM"

    def restart_postgres(self, down_s: float, crash: bool) -> str:
        """Stop Postgres (fast, or immediate = crash-like), then start it on the same data."""
        mode = "immediate" if crash else "fast"
        self.postgres.stop(mode)
        time.sleep(down_s)
        self.postgres.start()
        return f"pg_ctl stop -m {mode}"

    # -- observation --------------------------------------------------------------------------
    def topic(self, name: str) -> str:
        """A topic's full name."""
        return f"{self.prefix}{name}"

    async def db(self, schema: str) -> asyncpg.Connection:
        """A connection whose search path is one service's schema."""
        conn: asyncpg.Connection = await asyncpg.connect(
            self.database_url, server_settings={"search_path": schema}
        )
        return conn

    async def arrivals(self) -> list[dict[str, Any]]:
        """Every message the SMTP sink received (id, subject, recipients, time)."""
        async with httpx.AsyncClient(timeout=60) as client:
            answer = await client.get(f"http://127.0.0.1:{self.ports.smtp_http}/arrivals")
            answer.raise_for_status()
            messages: list[dict[str, Any]] = answer.json()
            return messages


# -- load -------------------------------------------------------------------------------------
def make_bodies(plan: Plan, count: int, rng: random.Random, tag: str) -> list[Posted]:
    """Synthetic submissions: a share with two or three siblings, a few acute ones."""
    posted = []
    for i in range(count):
        children = rng.choice((2, 3)) if rng.random() < plan.multi_child_share else 1
        sid = f"chaos-{tag}-{i:06d}-{rng.getrandbits(32):08x}"
        body = submission(rng, children=children, acute=rng.random() < plan.acute_share, submission_id=sid)
        posted.append(Posted(sid, children, encode(body), replay=rng.random() < plan.replay_share))
    return posted


async def post_until_accepted(client: httpx.AsyncClient, url: str, item: Posted, give_up_s: float) -> None:
    """Post one submission as a portal would: the same body again after 5xx or no answer."""
    started = time.monotonic()
    while time.monotonic() - started < give_up_s:
        item.attempts += 1
        try:
            answer = await client.post(url, content=item.raw, headers=signed_headers(item.raw))
        except httpx.TransportError as exc:
            item.answers[type(exc).__name__] += 1
            await asyncio.sleep(0.3 + random.random() * 0.4)
            continue
        item.answers[str(answer.status_code)] += 1
        if answer.status_code in (200, 202):
            item.status = answer.status_code
            item.reference = answer.json()["reference"]
            item.referral_ids = [r["referral_id"] for r in answer.json()["referrals"]]
            item.latency_s = time.monotonic() - started
            return
        if answer.status_code < 500:
            item.status = answer.status_code  # a 4xx for a valid body is a finding, not a retry
            return
        # Retry-After says 5 s; a short pause keeps the pressure on during the outage.
        await asyncio.sleep(min(float(answer.headers.get("retry-after", "1")), 1.0))


async def offer_load(
    stack: ChaosStack, items: list[Posted], *, rate_per_s: float | None, concurrency: int
) -> float:
    """Post every item, at `rate_per_s` (or as fast as `concurrency` allows); return the duration."""
    url = stack.procs.url("intake", "/v1/referrals")
    limit = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=15, limits=limits) as client:

        async def one(item: Posted) -> None:
            async with limit:
                await post_until_accepted(client, url, item, give_up_s=600)
                if item.replay and item.status in (200, 202):
                    again = Posted(item.submission_id, item.children, item.raw)
                    await post_until_accepted(client, url, again, give_up_s=600)
                    item.replay_status, item.replay_ids = again.status, again.referral_ids
                    item.answers.update({f"replay {k}": n for k, n in again.answers.items()})

        tasks = []
        for i, item in enumerate(items):
            if rate_per_s:
                delay = started + i / rate_per_s - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                await limit.acquire()  # do not create 20,000 tasks at once
                limit.release()
            tasks.append(asyncio.create_task(one(item)))
        await asyncio.gather(*tasks)
    return time.monotonic() - started


def summarise(name: str, items: list[Posted], duration_s: float, **extra: Any) -> Phase:
    """What the portal saw during one phase."""
    answers: Counter[str] = Counter()
    for item in items:
        answers.update(item.answers)
    return Phase(
        name=name,
        submissions=len(items),
        referrals=sum(i.children for i in items),
        duration_s=round(duration_s, 1),
        rate_per_s=round(len(items) / duration_s, 1) if duration_s else 0.0,
        answers=dict(sorted(answers.items())),
        retried_submissions=sum(1 for i in items if i.attempts > 1),
        max_attempts=max((i.attempts for i in items), default=0),
        max_latency_s=round(max((i.latency_s or 0.0 for i in items), default=0.0), 2),
        extra=extra,
    )


# -- faults -----------------------------------------------------------------------------------
Step = tuple[float, str, str]


def fault_schedule(plan: Plan, flavour: str, rng: random.Random) -> tuple[list[Step], list[str]]:
    """(offset in seconds, kind, target) at seeded random moments within the load; what is skipped."""
    load_s = plan.submissions / plan.rate_per_s
    steps: list[tuple[str, str]] = [("kill", s) for s in SERVICES for _ in range(plan.kills_per_service)]
    steps += [("postgres", "postgres")] * plan.postgres_restarts
    skipped = []
    if flavour == "apache":
        steps += [("broker", "kafka")] * plan.broker_restarts
    elif plan.broker_restarts:
        skipped.append(
            f"{plan.broker_restarts} broker restart(s) skipped: Tansu runs with memory storage "
            "here and loses every topic and committed offset on restart, so a restart would test "
            "Tansu's storage choice, not our delivery guarantees (run with TEST_KAFKA=apache)."
        )
    rng.shuffle(steps)
    offsets = sorted(rng.uniform(0.05, 0.9) * load_s for _ in steps)
    return [(at, kind, target) for at, (kind, target) in zip(offsets, steps, strict=True)], skipped


async def run_faults(
    stack: ChaosStack,
    schedule: list[Step],
    t0: float,
    rng: random.Random,
    log: Callable[[str], None] = print,
) -> list[Fault]:
    """Inject the faults one after another at (or, when one is still recovering, after) their times."""
    done: list[Fault] = []
    seen: Counter[str] = Counter()
    for at, kind, target in schedule:
        delay = t0 + at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        fault = Fault(kind=kind, target=target, at_s=round(time.monotonic() - t0, 1))
        down_s = rng.uniform(0.5, 3.0)
        crash = seen[kind] % 2 == 1  # alternate: a clean stop first, then a crash
        seen[kind] += 1
        if kind == "kill":
            await asyncio.to_thread(stack.kill_and_restart, target, down_s)
            fault.note = f"SIGKILL, restarted after {down_s:.1f} s"
        elif kind == "broker":
            how = await asyncio.to_thread(stack.restart_broker, down_s, crash)
            fault.note = f"{how}, started again on the same port after {down_s:.1f} s"
        else:
            how = await asyncio.to_thread(stack.restart_postgres, down_s, crash)
            fault.note = f"{how}, started again after {down_s:.1f} s"
        fault.recovered_s = round(time.monotonic() - t0, 1)
        done.append(fault)
        log(f"  {fault.at_s:7.1f} s  {kind:8} {target:13} back after {fault.outage_s:.1f} s  ({fault.note})")
    return done


# -- checks -----------------------------------------------------------------------------------
async def wait_quiet(stack: ChaosStack, expected_referrals: int, timeout_s: float) -> dict[str, Any]:
    """Wait until every referral is assigned and delivered and every outbox is empty."""
    deadline = time.monotonic() + timeout_s
    state: dict[str, Any] = {}
    while True:
        try:
            state = await pipeline_state(stack)
        except (OSError, asyncpg.PostgresError) as exc:
            state = {"error": type(exc).__name__}
        done = (
            state.get("referrals", -1) == expected_referrals
            and state.get("assignments") == expected_referrals
            and state.get("deliveries") == expected_referrals
            and state.get("deliveries_open") == 0
            and state.get("outbox_unpublished") == 0
        )
        if done:
            return state
        if time.monotonic() > deadline:
            return state
        await asyncio.sleep(1.0)


async def pipeline_state(stack: ChaosStack) -> dict[str, int]:
    """Counts that tell whether the pipeline has caught up."""
    conn = await stack.db("public")
    try:
        row = await conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM intake.referrals) AS referrals,
                   (SELECT count(*) FROM assignment.assignments) AS assignments,
                   (SELECT count(*) FROM notifications.deliveries) AS deliveries,
                   (SELECT count(*) FROM notifications.deliveries
                     WHERE status NOT IN ('sent', 'failed', 'unknown')) AS deliveries_open,
                   (SELECT count(*) FROM intake.outbox WHERE published_at IS NULL)
                 + (SELECT count(*) FROM assignment.outbox WHERE published_at IS NULL)
                 + (SELECT count(*) FROM notifications.outbox WHERE published_at IS NULL)
                   AS outbox_unpublished
            """
        )
    finally:
        await conn.close()
    return dict(row) if row is not None else {}


async def read_whole_topic(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every record of a topic, from the beginning to the end offsets as of now."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        partitions: set[int] = set()
        for _ in range(50):  # the first metadata answer after a restart may not list it yet
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
            if partitions:
                break
            await asyncio.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[dict[str, Any]] = []
        deadline = time.monotonic() + 300
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end offsets {ends}")
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for msgs in batch.values():
                records.extend(json.loads(m.value) for m in msgs)
        return records
    finally:
        await consumer.stop()


async def run_checks(stack: ChaosStack, posted: list[Posted]) -> tuple[list[Check], dict[str, Any]]:
    """Every property of DESIGN.md §2, counted from the databases, the topics and the sink."""
    checks: list[Check] = []
    figures: dict[str, Any] = {}
    conn = await stack.db("public")
    try:
        referrals = await conn.fetch("SELECT referral_id, submission_id FROM intake.referrals")
        assignments = await conn.fetch("SELECT referral_id FROM assignment.assignments")
        deliveries = await conn.fetch(
            "SELECT source_event_id, recipient, channel, referral_id, status, attempts"
            " FROM notifications.deliveries"
        )
        unpublished = await conn.fetchval(
            "SELECT (SELECT count(*) FROM intake.outbox WHERE published_at IS NULL)"
            " + (SELECT count(*) FROM assignment.outbox WHERE published_at IS NULL)"
            " + (SELECT count(*) FROM notifications.outbox WHERE published_at IS NULL)"
        )
    finally:
        await conn.close()
    checks += check_submissions(posted, referrals)
    checks += check_assignments(referrals, assignments)
    received = await read_whole_topic(stack.bootstrap, stack.topic(TOPIC_RECEIVED))
    assigned = await read_whole_topic(stack.bootstrap, stack.topic(TOPIC_ASSIGNED))
    outcomes = await read_whole_topic(stack.bootstrap, stack.topic(TOPIC_NOTIFICATIONS))
    dead = await read_whole_topic(stack.bootstrap, stack.topic(TOPIC_DEADLETTER))
    checks += check_topics(referrals, assignments, deliveries, received, assigned, outcomes, figures)
    checks.append(Check("nothing on deadletter.v1", not dead, f"{len(dead)} dead-lettered records"))
    checks.append(Check("every outbox published", unpublished == 0, f"{unpublished} unpublished rows"))
    mails = await stack.arrivals()
    checks += check_deliveries(assigned, deliveries, mails, figures)
    return checks, figures


def check_submissions(posted: list[Posted], referrals: list[asyncpg.Record]) -> list[Check]:
    """Every submission accepted, with exactly one stored referral per child."""
    stored: dict[str, set[str]] = {}
    for r in referrals:
        stored.setdefault(r["submission_id"], set()).add(r["referral_id"])
    accepted = [p for p in posted if p.status in (200, 202)]
    refused = [p for p in posted if p.status not in (200, 202)]
    # Intake stores a submission under its own reference, never the portal's id (issue 24).
    wrong = [p.submission_id for p in accepted
             if p.reference is None or stored.get(p.reference) != set(p.referral_ids)
             or len(p.referral_ids) != p.children]  # fmt: skip
    ours = {p.reference for p in posted}
    strays = sorted(set(stored) - ours)
    children = sum(p.children for p in accepted)
    replays = [p for p in posted if p.replay and p.status in (200, 202)]
    replays_wrong = [p for p in replays if p.replay_status != 200 or p.replay_ids != p.referral_ids]
    return [
        Check("a submission posted again after its 202 is answered 200 with the same referrals",
              not replays_wrong, f"{len(replays)} posted again, {len(replays_wrong)} answered otherwise"),
        Check("every submission answered 202/200", not refused,
              f"{len(accepted)} of {len(posted)} accepted; refused: "
              f"{Counter(str(p.status) for p in refused) or 'none'}"),
        Check("one referral per child of every accepted submission", not wrong and len(referrals) == children,
              f"{children} children, {len(referrals)} referrals stored; "
              f"{len(wrong)} submissions with missing, extra or different referrals"),
        Check("no referral from a submission the portal never sent", not strays, f"{len(strays)} strays"),
    ]  # fmt: skip


def check_assignments(referrals: list[asyncpg.Record], assignments: list[asyncpg.Record]) -> list[Check]:
    """Exactly one assignment row per referral."""
    per = Counter(a["referral_id"] for a in assignments)
    ids = {r["referral_id"] for r in referrals}
    missing = ids - set(per)
    doubled = [k for k, n in per.items() if n > 1]
    unknown = set(per) - ids
    return [
        Check("every referral exactly one assignment", not missing and not doubled and not unknown,
              f"{len(ids)} referrals, {len(assignments)} assignments; {len(missing)} missing, "
              f"{len(doubled)} doubled, {len(unknown)} for unknown referrals"),
    ]  # fmt: skip


def check_topics(
    referrals: list[asyncpg.Record],
    assignments: list[asyncpg.Record],
    deliveries: list[asyncpg.Record],
    received: list[dict[str, Any]],
    assigned: list[dict[str, Any]],
    outcomes: list[dict[str, Any]],
    figures: dict[str, Any],
) -> list[Check]:
    """Counts agree across topics; redelivered copies share an event id, never a second decision."""
    ids = {r["referral_id"] for r in referrals}
    received_ids = {e["event_id"] for e in received}
    received_refs = Counter(ref for ref, _ in {(e["data"]["referral_id"], e["event_id"]) for e in received})
    decisions = Counter(ref for ref, _ in {(e["data"]["referral_id"], e["event_id"]) for e in assigned})
    final = [d for d in deliveries if d["status"] in FINAL_DELIVERY]
    outcome_ids = {e["event_id"] for e in outcomes}
    outcome_distinct = {
        (e["data"]["source_event_id"], e["data"]["recipient"], e["data"]["channel"], e["event_id"])
        for e in outcomes
    }
    figures["topic_records"] = {
        TOPIC_RECEIVED: len(received),
        TOPIC_ASSIGNED: len(assigned),
        TOPIC_NOTIFICATIONS: len(outcomes),
    }
    figures["republished_copies"] = {
        TOPIC_RECEIVED: len(received) - len(received_ids),
        TOPIC_ASSIGNED: len(assigned) - sum(decisions.values()),
        TOPIC_NOTIFICATIONS: len(outcomes) - len(outcome_ids),
    }
    return [
        Check("referrals.received: one distinct event per referral",
              len(received_ids) == len(ids) and set(received_refs) == ids
              and max(received_refs.values(), default=1) == 1,
              f"{len(received_ids)} distinct events ({len(received)} records) for {len(ids)} referrals"),
        Check("referrals.assigned: one distinct decision per referral = assignments",
              set(decisions) == ids and max(decisions.values(), default=1) == 1
              and sum(decisions.values()) == len(assignments),
              f"{sum(decisions.values())} distinct decisions ({len(assigned)} records), "
              f"{len(assignments)} assignments, max {max(decisions.values(), default=0)} per referral"),
        Check("notifications.v1: one outcome per finished delivery",
              len(outcome_ids) == len(final) == len(outcome_distinct),
              f"{len(outcome_ids)} distinct outcomes ({len(outcomes)} records), "
              f"{len(final)} finished deliveries"),
    ]  # fmt: skip


def check_deliveries(
    assigned: list[dict[str, Any]],
    deliveries: list[asyncpg.Record],
    mails: list[dict[str, Any]],
    figures: dict[str, Any],
) -> list[Check]:
    """At most one delivery per event x recipient x channel, none open, one email per sent row."""
    keys = Counter((d["source_event_id"], d["recipient"], d["channel"]) for d in deliveries)
    decision_ids = {e["event_id"] for e in assigned}
    per_event = Counter(str(d["source_event_id"]) for d in deliveries)
    status = Counter(d["status"] for d in deliveries)
    figures["delivery_status"] = dict(status)
    per_mail = Counter(m["subject"].rsplit(" ", 1)[-1] for m in mails)
    sent = [d for d in deliveries if d["status"] == "sent"]
    unknown = [d for d in deliveries if d["status"] == "unknown"]
    sent_wrong = [d["referral_id"] for d in sent if per_mail[d["referral_id"]] != 1]
    unknown_over = [d["referral_id"] for d in unknown if per_mail[d["referral_id"]] > 1]
    known = {d["referral_id"] for d in deliveries}
    stray_mails = [s for s in per_mail if s not in known]
    figures["emails"] = len(mails)
    figures["unknown_with_email"] = sum(1 for d in unknown if per_mail[d["referral_id"]] == 1)
    return [
        Check("at most one delivery per event x recipient x channel",
              max(keys.values(), default=1) == 1, f"{len(deliveries)} deliveries, {len(keys)} distinct keys"),
        Check("one delivery per decision",
              set(per_event) == decision_ids and max(per_event.values(), default=1) == 1,
              f"{len(decision_ids)} decisions, {len(per_event)} with a delivery"),
        Check("no delivery left pending or sending",
              not (status["pending"] or status["sending"]), f"statuses {dict(status)}"),
        Check("every sent delivery exactly one email in the sink; unknown at most one",
              not sent_wrong and not unknown_over and not stray_mails,
              f"{len(mails)} emails for {len(sent)} sent + {len(unknown)} unknown deliveries; "
              f"{len(sent_wrong)} sent without exactly one email, {len(unknown_over)} unknown with "
              f"more than one, {len(stray_mails)} emails matching no delivery"),
    ]  # fmt: skip


# -- the run ----------------------------------------------------------------------------------
async def run(plan: Plan, workdir: Path, flavour: str, log: Callable[[str], None] = print) -> ChaosResult:
    """Start the stack, hold the load through the faults, check; then the backlog phase if planned."""
    rng = random.Random(plan.seed)
    result = ChaosResult(plan=plan, broker=broker_name(flavour), commit=git_commit(),
                         started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))  # fmt: skip
    stack = ChaosStack(workdir, flavour)
    started = time.monotonic()
    log(f"starting the stack in {workdir} ({result.broker})")
    await asyncio.to_thread(stack.start)
    try:
        await chaos_phase(stack, plan, rng, result, log)
        if plan.backlog and result.ok:
            await backlog_phase(stack, plan, rng, result, log)
    finally:
        await asyncio.to_thread(stack.stop)
    result.duration_s = round(time.monotonic() - started, 1)
    return result


async def chaos_phase(
    stack: ChaosStack, plan: Plan, rng: random.Random, result: ChaosResult, log: Callable[[str], None]
) -> None:
    """Steady load with the fault schedule running alongside, then the checks."""
    items = make_bodies(plan, plan.submissions, rng, "c")
    schedule, result.skipped = fault_schedule(plan, stack.flavour, rng)
    log(f"load: {len(items)} submissions ({sum(i.children for i in items)} referrals) at "
        f"{plan.rate_per_s}/s; {len(schedule)} faults")  # fmt: skip
    t0 = time.monotonic()
    duration, faults = await asyncio.gather(
        offer_load(stack, items, rate_per_s=plan.rate_per_s, concurrency=64),
        run_faults(stack, schedule, t0, rng, log),
    )
    result.faults = faults
    result.phases.append(summarise("chaos", items, duration))
    quiet_started = time.monotonic()
    state = await wait_quiet(
        stack, sum(i.children for i in items if i.status in (200, 202)), plan.drain_timeout_s
    )
    result.figures["chaos_settle_s"] = round(time.monotonic() - quiet_started, 1)
    result.figures["chaos_state"] = state
    log(f"quiet after {result.figures['chaos_settle_s']} s: {state}")
    checks, figures = await run_checks(stack, items)
    result.checks = [Check(f"[chaos] {c.name}", c.ok, c.detail) for c in checks]
    result.figures["chaos"] = figures
    result.posted = items


async def backlog_phase(
    stack: ChaosStack, plan: Plan, rng: random.Random, result: ChaosResult, log: Callable[[str], None]
) -> None:
    """Assignment stopped, `plan.backlog` referrals submitted, then started: time to drain."""
    earlier = result.posted
    before = await pipeline_state(stack)
    items = make_bodies(
        Plan(**{**asdict(plan), "multi_child_share": 0.0, "acute_share": 0.0}), plan.backlog, rng, "b"
    )
    stack.procs.stop("assignment")
    log(f"backlog: assignment stopped; submitting {len(items)} referrals")
    duration = await offer_load(stack, items, rate_per_s=None, concurrency=plan.backlog_concurrency)
    result.phases.append(summarise("backlog", items, duration))
    expected = before["referrals"] + sum(i.children for i in items if i.status in (200, 202))
    log(f"backlog: submitted in {duration:.1f} s; starting assignment")
    t0 = time.monotonic()
    await asyncio.to_thread(stack.procs.start, "assignment", timeout_s=180)
    ready_s = time.monotonic() - t0
    assigned_s = await time_until(
        lambda: _count(stack, "assignment.assignments"), expected, plan.backlog_timeout_s
    )
    state = await wait_quiet(stack, expected, plan.backlog_timeout_s)
    drained_s = time.monotonic() - t0
    mails = len(await stack.arrivals())
    result.figures["backlog"] = {
        "referrals": len(items),
        "submit_s": round(duration, 1),
        "assignment_ready_s": round(ready_s, 1),
        "all_assigned_s": None if assigned_s is None else round(assigned_s, 1),
        "all_delivered_s": round(drained_s, 1),
        "assigned_per_s": None if not assigned_s else round(len(items) / assigned_s, 1),
        "emails_in_sink": mails,
        "state": state,
    }
    log(f"backlog: {result.figures['backlog']}")
    checks, figures = await run_checks(stack, earlier + items)
    result.checks += [Check(f"[backlog] {c.name}", c.ok, c.detail) for c in checks]
    result.posted = earlier + items
    result.figures["after_backlog"] = figures


async def _count(stack: ChaosStack, table: str) -> int:
    conn = await stack.db("public")
    try:
        n: int = await conn.fetchval(f"SELECT count(*) FROM {table}")
        return n
    finally:
        await conn.close()


async def time_until(probe: Callable[[], Awaitable[int]], target: int, timeout_s: float) -> float | None:
    """Seconds until `probe()` reaches `target`, or None at the timeout."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if await probe() >= target:
            return time.monotonic() - t0
        await asyncio.sleep(0.5)
    return None


def broker_name(flavour: str) -> str:
    """The broker, as the report names it."""
    if flavour == "apache":
        return "Apache Kafka 4.3.1 (KRaft, single node, deploy/kafka/kafka.sh)"
    try:
        from referral_router.devinfra.tansu import tansu_binary

        version = subprocess.run([tansu_binary(), "--version"], capture_output=True, text=True,
                                 check=False, timeout=10).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        version = "tansu"
    return f"{version or 'Tansu'} (memory storage)"


# -- report -----------------------------------------------------------------------------------
def machine() -> str:
    """CPU, cores, memory, OS and Python of this machine."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))  # fmt: skip
        memory = f"{mem_kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        memory = "unknown RAM"
    return (f"{cpu}, {os.cpu_count()} cores, {memory}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")  # fmt: skip


def git_commit() -> str:
    """The commit the run was made from, marked when the code under test had local changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
        paths = ["services", "shared", "tests/reliability"]
        dirty = subprocess.run(["git", "status", "--porcelain", "--", *paths], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} (with uncommitted changes)" if dirty else head


def render(result: ChaosResult) -> str:
    """docs/RELIABILITY.md: faults injected, load held, what was checked, results."""
    plan = result.plan
    verdict = "**all checks held**" if result.ok else f"**{len(result.failures())} check(s) failed**"
    out = [
        "# Reliability: the chaos run",
        "",
        "Written by `tests/reliability/chaos.py` (issue 7); do not edit by hand, run "
        "`make chaos KAFKA=apache` again. The promise under test is DESIGN.md §2: no referral is "
        "lost, none is assigned twice, no notification is sent twice, through crashes, restarts "
        "and broker and database outages.",
        "",
        f"Result: {verdict}.",
        "",
        "## Run",
        "",
        f"- Command: `{result.command}`",
        f"- Started: {result.started_at}, took {result.duration_s:.0f} s in total",
        f"- Commit: {result.commit}",
        f"- Machine: {machine()} (shared with other work during the run: figures are indicative)",
        f"- Broker: {result.broker}",
        "- Postgres: embedded Postgres, own server and data directory, `fsync=on`",
        f"- Services: the four services as separate processes, environment {SERVICE_ENV}",
        f"- Seed: {plan.seed}",
        "",
        "## Load held",
        "",
        "A portal client posts signed submissions at a steady rate; after a 5xx or a connection "
        "error it posts the same body again (same `submission_id`, fresh signature) until it gets "
        "202 or 200, as a real portal does.",
        "",
        "| phase | submissions | referrals | duration | rate (submissions/s) | answers seen "
        "| retried submissions | max attempts | slowest acceptance |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for p in result.phases:
        answers = ", ".join(f"{k}: {v}" for k, v in p.answers.items())
        out.append(f"| {p.name} | {p.submissions} | {p.referrals} | {p.duration_s} s | {p.rate_per_s} "
                   f"| {answers} | {p.retried_submissions} | {p.max_attempts} "
                   f"| {p.max_latency_s} s |")  # fmt: skip
    out += ["", "## Faults injected", "",
            "At seeded random moments during the load, one after another:", "",
            "| at | fault | target | back after | how |", "|---:|---|---|---:|---|"]  # fmt: skip
    for f in result.faults:
        out.append(f"| {f.at_s} s | {f.kind} | {f.target} | {f.outage_s:.1f} s | {f.note} |")
    counts = Counter((f.kind, f.target) for f in result.faults)
    out += ["", "Totals: " + ", ".join(f"{k} {t}: {n}" for (k, t), n in sorted(counts.items())) + "."]
    for reason in result.skipped:
        out += ["", f"Skipped: {reason}"]
    if "chaos_settle_s" in result.figures:
        settle = result.figures["chaos_settle_s"]
        out += ["", "After the last submission and the last fault the pipeline was quiet (everything "
                f"assigned, delivered, every outbox published) {settle} s later."]  # fmt: skip
    backlog = result.figures.get("backlog")
    if backlog:
        out += [
            "",
            "## Backlog recovery",
            "",
            f"Assignment stopped; {backlog['referrals']} referrals submitted "
            f"(in {backlog['submit_s']} s), then assignment started again.",
            "",
            "| measure | value |",
            "|---|---:|",
            f"| assignment process ready | {backlog['assignment_ready_s']} s |",
            f"| all {backlog['referrals']} assigned | {backlog['all_assigned_s']} s |",
            f"| assigned per second | {backlog['assigned_per_s']} |",
            f"| all emails delivered, outboxes empty | {backlog['all_delivered_s']} s |",
            f"| emails in the SMTP sink (whole run) | {backlog['emails_in_sink']} |",
        ]
    out += ["", "## What was checked, and the results", "",
            "From the databases (intake, assignment, notifications schemas), every record of the "
            "topics read back from the broker, and the SMTP sink:", "",
            "| check | held | counts |", "|---|---|---|"]  # fmt: skip
    for c in result.checks:
        out.append(f"| {c.name} | {'yes' if c.ok else '**NO**'} | {c.detail} |")
    for key in ("chaos", "after_backlog"):
        figures = result.figures.get(key)
        if figures:
            out += ["", f"Figures ({key}): records on topics {figures['topic_records']}; copies "
                    f"republished with the same event id (at-least-once relay, allowed) "
                    f"{figures['republished_copies']}; delivery statuses {figures['delivery_status']}; "
                    f"emails {figures['emails']}."]  # fmt: skip
    last = result.figures.get("after_backlog") or result.figures.get("chaos") or {}
    unknown = last.get("delivery_status", {}).get("unknown", 0)
    arrived = last.get("unknown_with_email", 0)
    out += [
        "",
        "## Deliveries that ended `unknown`",
        "",
        "A delivery whose sender was killed after handing the message over (committed just before "
        "SMTP DATA) and before recording the result ends `unknown` (DESIGN.md §2): it is never "
        'resent automatically; it is counted (`notification_deliveries{status="unknown"}`), '
        "alerted on and shown to an operator. Such a delivery may or may not have reached the "
        "relay, so the check allows at most one email for it. A sender killed before the hand-over "
        "sent nothing: its delivery goes back to `pending` when the lease expires and is sent "
        "then, and the checks above count it like any other. " + unknown_summary(unknown, arrived),
        "",
    ]
    return "\n".join(out)


def unknown_summary(unknown: int, arrived: int) -> str:
    """One sentence on this run's `unknown` deliveries."""
    if not unknown:
        return (
            "In this run no delivery ended `unknown`: no kill of the notifications service fell between a "
            "hand-over and its recorded result, and every outcome known during a Postgres outage was "
            "recorded later."
        )
    return (
        f"In this run {unknown} deliveries ended `unknown`: {arrived} of them had reached the SMTP sink "
        "(the kill fell between the relay's acceptance and the status update) and "
        f"{unknown - arrived} had not (the kill fell after the hand-over, before the relay had taken "
        "the message). None was sent twice; "
        "the ones that did not arrive are the operator's to resend, as designed."
    )


def main(argv: list[str] | None = None) -> int:
    """CLI: the long run (or the short one), optionally writing the Markdown report."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--long", action="store_true", help="the long run with the backlog phase")
    parser.add_argument("--report", type=Path, help="write the Markdown report here")
    parser.add_argument(
        "--workdir", type=Path, help="state and logs (default: a new directory under .cache/)"
    )
    parser.add_argument("--backlog", type=int, help="override the backlog size")
    parser.add_argument("--submissions", type=int, help="override the number of submissions")
    args = parser.parse_args(argv)
    plan = LONG if args.long else SHORT
    if args.backlog is not None:
        plan = Plan(**{**asdict(plan), "backlog": args.backlog})
    if args.submissions is not None:
        plan = Plan(**{**asdict(plan), "submissions": args.submissions})
    flavour = os.environ.get("TEST_KAFKA", "tansu")
    (REPO / ".cache").mkdir(exist_ok=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="chaos-", dir=REPO / ".cache"))
    result = asyncio.run(run(plan, workdir.resolve(), flavour))
    result.command = f"TEST_KAFKA={flavour} python -m tests.reliability.chaos " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    for c in result.checks:
        print(f"{'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}")
    if args.report:
        args.report.write_text(render(result), "utf-8")
        print(f"wrote {args.report}")
    if result.ok and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)  # ~650 MB of broker and database data per long run
    else:
        print(f"state and logs kept in {workdir}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
