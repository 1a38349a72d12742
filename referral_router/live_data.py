"""What the live view of `referral-router dev` shows, gathered from the running stack.

Kept apart from the rendering (referral_router/live_view.py): the parsing below is pure and
unit-tested; `Gatherer` only fetches. Sources, all of them free of client personal data:
the metrics service's /metrics (CONTRACTS.md §5 names), the assignment staff API (on duty,
workload; staff ids only) with a dev token, each service's /readyz, and the SMTP and Teams
sinks' listings, of which only time, recipient (a staff address or team) and subject are kept.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from prometheus_client.parser import text_string_to_metric_families

from referral_router.portal_simulator import SimulatorStats
from referral_router.stack import SERVICES, Ports
from services.assignment.domain.unit import Unit as AssignmentUnit
from services.assignment.unit_from_config import unit_from_config
from shared.unit_config import UnitConfigError, load_unit_config

DEADLINES = (
    "protection_assessment",
    "preliminary_assessment",
    "investigation",
    "reporter_feedback",
    "registration",
)
MAX_NOTIFICATIONS = 8


@dataclass(frozen=True)
class Sample:
    """One sample of a Prometheus metric."""

    name: str
    labels: Mapping[str, str]
    value: float


def parse_metrics(text: str) -> list[Sample]:
    """Every sample in a Prometheus text exposition."""
    return [
        Sample(s.name, dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def total(samples: Iterable[Sample], name: str, **match: str) -> float:
    """Sum of the samples called `name` whose labels include `match`."""
    return sum(
        s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in match.items())
    )


def by_label(samples: Iterable[Sample], name: str, label: str) -> dict[str, float]:
    """Samples called `name`, summed per value of `label`."""
    sums: dict[str, float] = defaultdict(float)
    for s in samples:
        if s.name == name and label in s.labels:
            sums[s.labels[label]] += s.value
    return dict(sums)


@dataclass(frozen=True)
class OnDuty:
    """The team on duty at an instant, and when its period ends."""

    team: str
    period_end: datetime
    source: str

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> OnDuty:
        """From GET /v1/rotation/on-duty."""
        return cls(str(body["team"]), datetime.fromisoformat(str(body["period_end"])), str(body["source"]))


@dataclass(frozen=True)
class NewReferrals:
    """Where a referral arriving now goes: the instant whose team on duty takes it, why that
    instant, and (from the staff API, which knows the overrides) that team."""

    instant: datetime
    why: str
    team: str | None = None


def new_referral_route(unit: AssignmentUnit, now: datetime) -> NewReferrals:
    """The instant whose team takes a referral received `now`, by the rule assignment applies
    (`Unit.assignment_moment`: the assignment policy and office hours), and why in plain words."""
    instant, _day = unit.assignment_moment(now)
    if unit.policy != "next_office_hours":
        return NewReferrals(instant, f"assigned at receipt (assignment_policy: {unit.policy})")
    if instant == now:
        return NewReferrals(instant, "within office hours")
    local = now.astimezone(unit.tz)
    if not unit.calendar.is_office_day(local.date()):
        outside = "not an office day (weekend or public holiday)"
    elif local.time() < unit.calendar.start:
        outside = "before office hours"
    else:
        outside = "after office hours"
    start = instant.astimezone(unit.tz).strftime("%A %d %b %H:%M")
    return NewReferrals(instant, f"{outside}; next office hours begin {start}")


@dataclass(frozen=True)
class Load:
    """A caseworker's weighted open caseload against their capacity."""

    team: str
    staff_id: str
    load: float
    capacity: float | None


def loads(samples: Sequence[Sample], workload: Mapping[str, Any] | None) -> list[Load]:
    """`caseload_weighted{team,caseworker}` from the metrics, with capacity from GET /v1/workload."""
    capacity: dict[str, float] = {}
    for person in (workload or {}).get("caseworkers", []):
        capacity[str(person["staff_id"])] = float(person["capacity"])
    found = [
        Load(s.labels["team"], s.labels["caseworker"], s.value, capacity.get(s.labels["caseworker"]))
        for s in samples
        if s.name == "caseload_weighted" and "team" in s.labels and "caseworker" in s.labels
    ]
    return sorted(found, key=lambda x: (x.team, x.staff_id))


@dataclass(frozen=True)
class Notice:
    """A message as staff received it: when, how, to whom, and its subject (no client details)."""

    at: datetime
    channel: str  # "email" | "teams"
    recipient: str
    subject: str


def email_notices(messages: Iterable[Mapping[str, Any]]) -> list[Notice]:
    """From the SMTP sink's GET /messages: time, first recipient, subject."""
    return [
        Notice(
            _when(m.get("received_at")), "email", ", ".join(m.get("rcpt_tos") or []), str(m.get("subject"))
        )
        for m in messages
    ]


def teams_notices(messages: Iterable[Mapping[str, Any]]) -> list[Notice]:
    """From the Teams sink's GET /messages: time, team channel, the card's first text block."""
    return [
        Notice(_when(m.get("received_at")), "teams", str(m.get("team")), _card_title(m.get("body")))
        for m in messages
    ]


def _card_title(body: Any) -> str:
    try:
        blocks = body["attachments"][0]["content"]["body"]
        return str(next(b["text"] for b in blocks if b.get("type") == "TextBlock"))
    except (KeyError, IndexError, TypeError, StopIteration):
        return "(card without a title)"


def _when(text: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return datetime.now(UTC)


def latest(notices: Iterable[Notice], count: int = MAX_NOTIFICATIONS) -> list[Notice]:
    """The newest `count` notices, newest first."""
    return sorted(notices, key=lambda n: n.at, reverse=True)[:count]


@dataclass(frozen=True)
class Unit:
    """What the view needs from the unit config: team names and the local time zone."""

    team_names: Mapping[str, str]
    tz: tzinfo

    @classmethod
    def load(cls, path: Path) -> Unit:
        """From the unit config file; plain ids and UTC if it cannot be read."""
        try:
            config = load_unit_config(path)
        except (OSError, ValueError):
            return cls({}, UTC)
        return cls({t.id: t.name for t in config.teams}, ZoneInfo(config.rotation.timezone))


def _assignment_unit(path: Path) -> AssignmentUnit | None:
    try:
        return unit_from_config(load_unit_config(path))
    except (OSError, ValueError, UnitConfigError):
        return None


@dataclass
class Snapshot:
    """Everything one frame of the live view shows."""

    taken_at: datetime
    health: dict[str, str] = field(default_factory=dict)  # part -> "ready" or why not
    on_duty: OnDuty | None = None
    simulated_at: datetime | None = None  # the simulator's clock, when it runs accelerated
    simulated_on_duty: OnDuty | None = None
    new_referrals: NewReferrals | None = None  # where one arriving now (simulated, if so) goes
    received: float = 0.0
    assigned: float = 0.0
    assigned_by_team: dict[str, float] = field(default_factory=dict)
    open_by_team: dict[str, float] = field(default_factory=dict)
    loads: list[Load] = field(default_factory=list)
    deadlines: dict[tuple[str, str], float] = field(default_factory=dict)  # (deadline, state) -> n
    breaches_total: float = 0.0
    notices: list[Notice] = field(default_factory=list)
    notices_total: int = 0
    simulator: SimulatorStats | None = None
    unit: Unit = field(default_factory=lambda: Unit({}, UTC))
    problems: list[str] = field(default_factory=list)

    @property
    def all_ready(self) -> bool:
        """True when every part answered ready."""
        return bool(self.health) and all(v == "ready" for v in self.health.values())

    def deadline_count(self, state: str) -> float:
        """Open deadlines in a state (`ok`, `approaching`, `breached`) over all kinds."""
        return sum(n for (_, s), n in self.deadlines.items() if s == state)


def apply_metrics(snapshot: Snapshot, samples: Sequence[Sample]) -> None:
    """Fill the counts that come from the metrics service."""
    snapshot.received = total(samples, "referrals_received_total")
    snapshot.assigned = total(samples, "referrals_assigned_total")
    snapshot.assigned_by_team = by_label(samples, "referrals_assigned_total", "team")
    snapshot.open_by_team = by_label(samples, "referrals_open", "team")
    snapshot.breaches_total = total(samples, "deadline_breaches_total")
    snapshot.deadlines = {
        (s.labels["deadline"], s.labels["state"]): s.value
        for s in samples
        if s.name == "deadlines_open" and "deadline" in s.labels and "state" in s.labels
    }


class Gatherer:
    """Fetches one `Snapshot` from the running dev stack; a part that does not answer is noted."""

    def __init__(
        self,
        ports: Ports,
        token: str,
        unit_config: Path,
        simulator: SimulatorStats | None = None,
    ) -> None:
        self.ports = ports
        self._auth = {"authorization": f"Bearer {token}"}
        self.simulator = simulator
        self.unit = Unit.load(unit_config)
        self.rules = _assignment_unit(unit_config)
        self._notices: list[Notice] = []  # the newest few
        self._count = 0
        self._seen = {"email": 0, "teams": 0}  # highest message id fetched per sink

    def _url(self, port: int, path: str) -> str:
        return f"http://127.0.0.1:{port}{path}"

    async def gather(self, client: httpx.AsyncClient) -> Snapshot:
        """One snapshot; every source is asked concurrently."""
        snap = Snapshot(datetime.now(UTC), simulator=self.simulator, unit=self.unit)
        await asyncio.gather(
            self._health(client, snap),
            self._metrics(client, snap),
            self._on_duty(client, snap),
            self._new_notices(client, snap),
        )
        snap.notices = self._notices
        snap.notices_total = self._count
        return snap

    async def _health(self, client: httpx.AsyncClient, snap: Snapshot) -> None:
        parts = {s: self._url(self.ports.http(s), "/readyz") for s in SERVICES}
        parts["smtp sink"] = self._url(self.ports.smtp_http, "/healthz")
        parts["teams sink"] = self._url(self.ports.teams, "/healthz")

        async def probe(url: str) -> str:
            try:
                response = await client.get(url)
            except httpx.HTTPError as exc:
                return f"down ({type(exc).__name__})"
            return "ready" if response.status_code == 200 else f"not ready (HTTP {response.status_code})"

        answers = await asyncio.gather(*(probe(u) for u in parts.values()))
        snap.health = dict(zip(parts, answers, strict=True))

    async def _metrics(self, client: httpx.AsyncClient, snap: Snapshot) -> None:
        try:
            text = (await client.get(self._url(self.ports.metrics, "/metrics"))).text
            workload = await self._staff_api(client, "/v1/workload")
        except httpx.HTTPError as exc:
            snap.problems.append(f"metrics: {type(exc).__name__}")
            return
        samples = parse_metrics(text)
        apply_metrics(snap, samples)
        snap.loads = loads(samples, workload)

    async def _staff_api(self, client: httpx.AsyncClient, path: str) -> Any:
        response = await client.get(self._url(self.ports.assignment, path), headers=self._auth)
        return response.json() if response.status_code == 200 else None

    async def _on_duty(self, client: httpx.AsyncClient, snap: Snapshot) -> None:
        try:
            # At the real time explicitly: with --accelerate the service's own clock is simulated.
            snap.on_duty = await self._on_duty_at(client, snap.taken_at)
            clock = self.simulator.clock if self.simulator else None
            if clock is not None and clock.accelerated:
                snap.simulated_at = clock.now()
                snap.simulated_on_duty = await self._on_duty_at(client, snap.simulated_at)
            if self.rules is not None:
                route = new_referral_route(self.rules, snap.simulated_at or snap.taken_at)
                duty = await self._on_duty_at(client, route.instant)
                snap.new_referrals = NewReferrals(route.instant, route.why, duty.team if duty else None)
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            snap.problems.append(f"on duty: {type(exc).__name__}")

    async def _on_duty_at(self, client: httpx.AsyncClient, at: datetime) -> OnDuty | None:
        query = httpx.QueryParams({"at": at.isoformat()})
        body = await self._staff_api(client, f"/v1/rotation/on-duty?{query}")
        return OnDuty.from_api(body) if body else None

    async def _new_notices(self, client: httpx.AsyncClient, snap: Snapshot) -> None:
        smtp = self.ports.smtp_http
        # /arrivals lists only new messages without bodies; older sinks have only /messages.
        email = await self._listing(
            client, "email", self._url(smtp, "/arrivals"), self._url(smtp, "/messages")
        )
        teams = await self._listing(client, "teams", None, self._url(self.ports.teams, "/messages"))
        fresh = [*email_notices(email), *teams_notices(teams)]
        self._count += len(fresh)
        self._notices = latest([*self._notices, *fresh])

    async def _listing(
        self, client: httpx.AsyncClient, channel: str, incremental: str | None, full: str
    ) -> list[dict[str, Any]]:
        seen = self._seen[channel]
        try:
            response = None
            if incremental is not None:
                response = await client.get(incremental, params={"after": seen})
            if response is None or response.status_code == 404:
                response = await client.get(full)
            listed = response.json() if response.status_code == 200 else []
        except (httpx.HTTPError, ValueError):
            return []
        new = [m for m in listed if isinstance(m, dict) and int(m.get("id", 0)) > seen]
        if new:
            self._seen[channel] = max(int(m["id"]) for m in new)
        return new
