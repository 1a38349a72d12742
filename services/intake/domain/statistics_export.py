"""The national follow-up file (NUSO, issue 23): one row per referral received in a period, with
small cells suppressed so that no child can be singled out (docs/STATISTICS.md).

The file carries no referral id, name or number. Dates are given as the month of receipt and
the days from receipt to the protection assessment and to the decision: the lead times are what
the follow-up measures, and an exact date is what a reporter or a neighbour could recognise.

Suppression: the quasi-identifiers are what someone outside the unit may know of a child —
the month, sex, age and who reported. A row whose combination of them occurs fewer than
`min_cell` times in the file is generalised step by step until it does (or nothing is left):
  1. the age becomes an age band,
  2. the reporter category becomes its group (mandatory reporter or not),
  3. sex and age are suppressed,
  4. the reporter group is suppressed too.
Counting only rows published at the same step errs on the safe side.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from services.intake.domain.reporting import is_mandatory_reporter
from services.intake.domain.statistics import LOCAL, StatisticsRecord, local_date

SUPPRESSED = "suppressed"
MANDATORY_GROUP, OTHER_GROUP = "mandatory_reporter", "other_reporter"
UNKNOWN = "unknown"
DEFAULT_MIN_CELL = 5
AGE_BANDS = ((0, 5), (6, 12), (13, 17))  # 18 and over: "18+"
LAST_STEP = 4

# (column, meaning): the file's header in this order; docs/STATISTICS.md documents the same.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("row", "running number within the file (not a referral id)"),
    ("received_month", "month of receipt, YYYY-MM (Europe/Stockholm)"),
    ("kind", "report | application"),
    ("channel", "e_service | phone | letter | email | sdk | visit"),
    ("reporter_category", "reporter type code, mandatory_reporter | other_reporter, or suppressed"),
    ("sex", "girl | boy | other | unknown (as the form gave it), or suppressed"),
    ("age", "whole years at receipt, an age band (0-5, 6-12, 13-17, 18+), unknown, or suppressed"),
    ("reason_categories", "concern category codes, sorted, separated by ';'"),
    ("acute_danger", "yes | no"),
    ("protection_assessment_days", "days from receipt to the protection assessment; empty if not made"),
    ("decision", "open_investigation | no_investigation | joined_ongoing; empty if not decided"),
    ("decision_days", "days from receipt to the decision; empty if not decided"),
)
Cell = str | int | None


@dataclass(frozen=True)
class StatisticsRow:
    """One line of the file, before it is numbered; `step` is how far it was generalised."""

    received_month: str
    kind: str
    channel: str
    reporter_category: str
    sex: str
    age: str | int
    reason_categories: str
    acute_danger: str
    protection_assessment_days: int | None
    decision: str | None
    decision_days: int | None
    step: int = 0

    def cells(self, number: int) -> tuple[Cell, ...]:
        """The row's cells in the order of COLUMNS."""
        return (
            number, self.received_month, self.kind, self.channel, self.reporter_category, self.sex,
            self.age, self.reason_categories, self.acute_danger, self.protection_assessment_days,
            self.decision, self.decision_days,
        )  # fmt: skip


class InvalidPeriod(ValueError):
    """The period's end lies before its start, or the smallest cell is below 2."""


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The instants [from, to) covering the local dates `start` to `end`, both included."""
    if end < start:
        raise InvalidPeriod("the period ends before it starts")
    begin = datetime.combine(start, time(), LOCAL).astimezone(UTC)
    return begin, datetime.combine(end + timedelta(days=1), time(), LOCAL).astimezone(UTC)


def age_band(age: int) -> str:
    """The band an age in years falls in."""
    for low, high in AGE_BANDS:
        if low <= age <= high:
            return f"{low}-{high}"
    return "18+"


def row_of(record: StatisticsRecord) -> StatisticsRow:
    """A record as a row, not yet generalised."""
    received = local_date(record.received_at)
    return StatisticsRow(
        received_month=received.strftime("%Y-%m"),
        kind=record.kind,
        channel=record.channel,
        reporter_category=record.reporter_type,
        sex=record.sex,
        age=UNKNOWN if record.age is None else record.age,
        reason_categories=";".join(sorted(record.categories)),
        acute_danger="yes" if record.acute_danger else "no",
        protection_assessment_days=_days(received, record.protection_assessed_at),
        decision=record.decision,
        decision_days=_days(received, record.decided_at),
    )


def _days(received: date, at: datetime | None) -> int | None:
    return None if at is None else (local_date(at) - received).days


def statistics_rows(
    records: Sequence[StatisticsRecord], min_cell: int = DEFAULT_MIN_CELL
) -> list[StatisticsRow]:
    """The file's rows, ordered by receipt, each generalised until its quasi-identifiers are
    shared by at least `min_cell` rows (or all are suppressed)."""
    if min_cell < 2:
        raise InvalidPeriod("the smallest cell must be at least 2")
    ordered = sorted(records, key=lambda r: (r.received_at, r.referral_id))
    return suppress_small_cells([row_of(r) for r in ordered], min_cell)


def suppress_small_cells(rows: Sequence[StatisticsRow], min_cell: int) -> list[StatisticsRow]:
    """Generalise the rows in rare combinations one step at a time until none is left."""
    current = list(rows)
    while True:
        sizes = Counter(quasi_identifiers(r) for r in current)
        rare = [
            i for i, r in enumerate(current) if r.step < LAST_STEP and sizes[quasi_identifiers(r)] < min_cell
        ]
        if not rare:
            return current
        for i in rare:
            current[i] = generalised(rows[i], current[i].step + 1)


def quasi_identifiers(row: StatisticsRow) -> tuple[str, str, str, str, int]:
    """What someone outside the unit may know of the child, as published, with the step."""
    return (row.received_month, row.sex, str(row.age), row.reporter_category, row.step)


def generalised(row: StatisticsRow, step: int) -> StatisticsRow:
    """The original row generalised to `step` (1: age band; 2: the reporter's group too; 3: sex
    and age suppressed; 4: the reporter suppressed too)."""
    if step == 0:
        return row
    age = row.age if isinstance(row.age, str) else age_band(row.age)
    if step == 1:
        return replace(row, age=age, step=1)
    group = MANDATORY_GROUP if is_mandatory_reporter(row.reporter_category) else OTHER_GROUP
    if step == 2:
        return replace(row, age=age, reporter_category=group, step=2)
    category = SUPPRESSED if step >= LAST_STEP else group
    return replace(row, sex=SUPPRESSED, age=SUPPRESSED, reporter_category=category, step=step)
