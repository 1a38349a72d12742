"""Domain metrics (CONTRACTS.md §5): the read models' figures rendered in Prometheus text format at
scrape time (the HTTP edge of `/metrics`). Metric names and labels are a contract.

Nothing is kept in memory, so every value is right straight after a restart, and several
metrics instances would all report the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from itertools import product
from typing import TypeVar

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from services.metrics.domain.figures import Figures, OnDuty, Unit, Workplace
from services.metrics.domain.labels import (
    ASSIGNMENT_BUCKETS,
    DEADLINES,
    INCIDENT_TYPES,
    NO_TEAM,
    OPEN_STATES,
    RESPONSE_BUCKETS,
    imbalance_ratio,
    started,
)
from services.metrics.handlers import current_figures
from services.metrics.ports import FiguresReader

L = TypeVar("L", bound=tuple[str, ...])  # a series' label values


class _Snapshot(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self._metrics


async def domain_metrics(reader: FiguresReader, unit: Unit, today: date | None = None) -> bytes:
    """The domain metrics as they are now, in Prometheus text format."""
    return render(await current_figures(reader), unit, today or datetime.now(UTC).date())


def render(figures: Figures, unit: Unit, today: date) -> bytes:
    """Every domain metric of CONTRACTS.md §5 (and a few more) from the figures."""
    received = {
        (k, c, g, "true" if acute else "false"): n for (k, c, g, acute), n in figures.received.items()
    }
    metrics = [
        _counter("referrals_received", "Referrals received.",
                 ["kind", "channel", "reporter_group", "acute"], received),
        _counter("referrals_assigned", "Assignments and reassignments.",
                 ["team", "reason"], figures.assignments),
        _counter("deadline_breaches", "Legal deadlines breached.",
                 ["deadline", "team"], figures.breaches, zeros=product(DEADLINES, unit.teams)),
        _counter("notifications", "What became of notifications.",
                 ["channel", "outcome"], figures.notifications,
                 zeros=product(("email", "teams"), ("sent", "failed", "unknown"))),
        _gauge("referrals_open", "Open cases by team and status.", ["team", "status"], figures.open_cases),
        _assignment_seconds(figures),
        _deadlines_open(figures.open_deadlines),
        *_caseload(figures.loads, unit, today),
        *_rotation(figures.on_duty, unit),
        *_workplace(figures.workplace, unit),
    ]  # fmt: skip
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(metrics))
    return generate_latest(registry)


def _counter(
    name: str, doc: str, labels: list[str], counts: Mapping[L, int], zeros: Iterable[L] = ()
) -> Metric:
    # Series in `zeros` start at 0, so the first event is an increase that alerts can see.
    values = {**dict.fromkeys(zeros, 0), **counts}
    family = CounterMetricFamily(name, doc, labels=labels)
    for key in sorted(values):
        family.add_metric(list(key), values[key])
    return family


def _gauge(name: str, doc: str, labels: list[str], values: Mapping[L, int]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for key in sorted(values):
        family.add_metric(list(key), values[key])
    return family


def _assignment_seconds(figures: Figures) -> Metric:
    times = figures.assignment_times
    buckets = [(str(float(b)), n) for b, n in zip(ASSIGNMENT_BUCKETS, times.within, strict=True)]
    buckets.append(("+Inf", times.count))
    family = HistogramMetricFamily(
        "referral_assignment_seconds", "Seconds from receipt (submitted_at) to assignment."
    )
    family.add_metric([], buckets, times.total_seconds)
    return family


def _deadlines_open(counts: Mapping[tuple[str, str], int]) -> Metric:
    family = GaugeMetricFamily(
        "deadlines_open", "Legal deadlines not yet met, by state.", labels=["deadline", "state"]
    )
    for deadline in DEADLINES:
        for state in OPEN_STATES:
            family.add_metric([deadline, state], counts.get((deadline, state), 0))
    return family


def _caseload(figures: Mapping[tuple[str, str], float], unit: Unit, today: date) -> list[Metric]:
    loads: dict[str, dict[str, float]] = {
        team: dict.fromkeys(people, 0.0) for team, people in unit.fte.items()
    }
    for (team, person), load in figures.items():
        loads.setdefault(team, {})[person] = load
    weighted = GaugeMetricFamily("caseload_weighted", "Weighted open caseload per caseworker.",
                                 labels=["team", "caseworker"])  # fmt: skip
    ratio = GaugeMetricFamily(
        "caseload_imbalance_ratio",
        "Max ÷ min weighted load per FTE among the team's caseworkers who have started work.",
        labels=["team"],
    )
    for team in sorted(loads):
        for person in sorted(loads[team]):
            weighted.add_metric([team, person], loads[team][person])
        value = imbalance_ratio(loads[team], started(unit.fte.get(team, {}), unit.hired, today))
        if value is not None:
            ratio.add_metric([team], value)
    return [weighted, ratio]


def _rotation(on_duty: OnDuty | None, unit: Unit) -> list[Metric]:
    gauge = GaugeMetricFamily("rotation_on_duty", "1 for the team on duty, else 0.", labels=["team"])
    following = GaugeMetricFamily(
        "rotation_next_handover_timestamp_seconds", "When the next handover happens."
    )
    if on_duty is not None:
        for team in unit.teams:
            gauge.add_metric([team], 1.0 if team == on_duty.team else 0.0)
        if on_duty.next_handover_at is not None:
            following.add_metric([], on_duty.next_handover_at.timestamp())
    return [gauge, following]


def _workplace(w: Workplace, unit: Unit) -> list[Metric]:
    """Issue 22: overload flags, incidents and consultations by team, never by person. Every team
    starts at 0 (and every incident type), so the first flag is an increase alerts can see."""
    teams = [(t,) for t in unit.teams]
    one = {(k,): n for k, n in w.flags_open.items()}
    times = w.response_times
    buckets = [(str(float(b)), n) for b, n in zip(RESPONSE_BUCKETS, times.within, strict=False)]
    buckets.append(("+Inf", times.count))
    response = HistogramMetricFamily(
        "overload_flag_response_seconds", "Seconds from an overload flag to the manager's answer."
    )
    response.add_metric([], buckets, times.total_seconds)
    return [
        _counter("overload_flags_raised", "Overload flags raised.", ["team"],
                 {(k,): n for k, n in w.flags_raised.items()}, zeros=teams),
        _gauge("overload_flags_open", "Overload flags raised and not yet answered.", ["team"],
               {**dict.fromkeys(teams, 0), **one}),
        _counter("overload_flags_escalated", "Overload flags escalated to the head of unit unanswered.",
                 ["team"], {(k,): n for k, n in w.flags_escalated.items()}, zeros=teams),
        response,
        _counter("incidents", "Threats, violence and harassment against staff recorded.", ["type", "team"],
                 w.incidents, zeros=product(INCIDENT_TYPES, [*unit.teams, NO_TEAM])),
        _counter("consultations_booked", "Consultations booked.", ["team"],
                 {(k,): n for k, n in w.consultations_booked.items()}, zeros=teams),
        _counter("consultations_cancelled", "Consultations cancelled.", ["team"],
                 {(k,): n for k, n in w.consultations_cancelled.items()}, zeros=teams),
    ]  # fmt: skip
