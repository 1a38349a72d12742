"""The monthly review of the access log (issue 19): what in last month's rows a head of unit should see.

Access to personal details is role-based and logged (DOMAIN.md §6); a log nobody reads protects
nobody, so once a month the rows are reduced to findings, each a staff id, how often and where
(referral ids, at most `max_referral_ids`; the count stays exact). The rules:

- `break_glass`: every break-the-glass grant (action `break_glass`, allowed), per staff.
- `denied`: every refused attempt (outcome `denied`, whatever was tried), per staff.
- `outside_assignments`: allowed reads, exports, attachments and reveals whose relation is not
  one of the reader's own assignments. Own are `assigned`, `mentor`, `intake` (the group's work
  before registration) and `team_manager`: that relation is given only for a referral of the
  team the reader manages, so it is their own caseworkers' work. Outside are `head_of_unit` (a
  right over every referral, not a case of theirs: privileged reads are reviewed too),
  `break_glass` (the reads made under a grant; the grant itself is a `break_glass` finding) and
  `none`. So the point is "reads outside the reader's own assignments".
- `outside_office_hours`: allowed reads, exports, attachments and reveals at a local time
  (Europe/Stockholm) before `office_start` or from `office_end` on (08:00 is inside, 17:00 is
  outside), or on a day that is not an office day (weekends, `holidays`).
- `unusual_volume`: a staff member whose allowed reads, exports, attachments and reveals touched
  more distinct referrals than max(`volume_floor`, `volume_factor` × the median of that number
  over every staff member with at least one such access). The count is the distinct referrals.

Counts are entries (rows), except `unusual_volume` (distinct referrals). Findings are sorted by
kind (the order above) and staff id, referral ids in order; the same rows in any order give the
same findings. The month runs from local midnight on its first day to local midnight on the
first of the next: a row at 23:30 UTC on the last day of a winter month belongs to the next.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

from services.intake.domain.access_log import AccessAction, AccessRelation, LoggedEntry, Outcome

FindingKind = Literal[
    "break_glass", "denied", "outside_assignments", "outside_office_hours", "unusual_volume"
]
KINDS: tuple[FindingKind, ...] = (
    "break_glass",
    "denied",
    "outside_assignments",
    "outside_office_hours",
    "unusual_volume",
)
DATA_ACTIONS = frozenset(
    {
        AccessAction.READ,
        AccessAction.EXPORT,
        AccessAction.ATTACHMENT,
        AccessAction.REVEAL,
        AccessAction.REGISTER_EXTRACT,
    }
)
OWN_RELATIONS = frozenset(
    {AccessRelation.ASSIGNED, AccessRelation.MENTOR, AccessRelation.INTAKE, AccessRelation.TEAM_MANAGER}
)
STOCKHOLM = ZoneInfo("Europe/Stockholm")
_MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class ReviewRules:
    """The review's thresholds (configurable); office hours as the unit file's defaults."""

    office_start: time = time(8, 0)
    office_end: time = time(17, 0)
    # An intake group member reads some 60-80 referrals a month (DOMAIN.md §7: 10-14 a working
    # day shared by four), a caseworker 10-20: below the floor nobody stands out.
    volume_floor: int = 100
    volume_factor: float = 3.0
    max_referral_ids: int = 50
    tz: tzinfo = STOCKHOLM


@dataclass(frozen=True)
class Finding:
    """What stood out about one staff member: how often (`count`) and where (some referral ids)."""

    kind: FindingKind
    staff: str
    count: int
    referral_ids: tuple[str, ...]


def _is_data_access(row: LoggedEntry) -> bool:
    return row.entry.outcome is Outcome.ALLOWED and row.entry.action in DATA_ACTIONS


def _is_office_time(rules: ReviewRules, holidays: Set[date], at: datetime) -> bool:
    local = at.astimezone(rules.tz)
    office_day = local.weekday() < 5 and local.date() not in holidays
    return office_day and rules.office_start <= local.time() < rules.office_end


def _per_staff(
    kind: FindingKind, rows: Iterable[LoggedEntry], keep: Callable[[LoggedEntry], bool], cap: int
) -> list[Finding]:
    """One finding per staff member with at least one row that `keep` accepts: rows counted."""
    counts: dict[str, int] = defaultdict(int)
    referrals: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if keep(row):
            counts[row.entry.staff] += 1
            referrals[row.entry.staff].add(row.entry.referral_id)
    return [Finding(kind, s, counts[s], tuple(sorted(referrals[s])[:cap])) for s in sorted(counts)]


def _unusual_volume(rows: Sequence[LoggedEntry], rules: ReviewRules) -> list[Finding]:
    touched: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if _is_data_access(row):
            touched[row.entry.staff].add(row.entry.referral_id)
    if not touched:
        return []
    bound = max(rules.volume_floor, rules.volume_factor * statistics.median(len(r) for r in touched.values()))
    return [
        Finding("unusual_volume", s, len(touched[s]), tuple(sorted(touched[s])[: rules.max_referral_ids]))
        for s in sorted(touched)
        if len(touched[s]) > bound
    ]


def review_findings(rows: Sequence[LoggedEntry], rules: ReviewRules, holidays: Set[date]) -> list[Finding]:
    """The month's findings from its log rows, sorted by kind and staff id (the module's rules)."""
    cap = rules.max_referral_ids
    return [
        *_per_staff(
            "break_glass",
            rows,
            lambda r: r.entry.action is AccessAction.BREAK_GLASS and r.entry.outcome is Outcome.ALLOWED,
            cap,
        ),
        *_per_staff("denied", rows, lambda r: r.entry.outcome is Outcome.DENIED, cap),
        *_per_staff(
            "outside_assignments",
            rows,
            lambda r: _is_data_access(r) and r.entry.relation not in OWN_RELATIONS,
            cap,
        ),
        *_per_staff(
            "outside_office_hours",
            rows,
            lambda r: _is_data_access(r) and not _is_office_time(rules, holidays, r.entry.at),
            cap,
        ),
        *_unusual_volume(rows, rules),
    ]


def month_of(at: datetime, tz: tzinfo = STOCKHOLM) -> str:
    """The local month `at` falls in, as "YYYY-MM"."""
    return at.astimezone(tz).strftime("%Y-%m")


def month_bounds(month: str, tz: tzinfo = STOCKHOLM) -> tuple[datetime, datetime]:
    """The instants the month starts and ends at (local midnight on the first days), start inclusive."""
    matched = _MONTH.fullmatch(month)
    if matched is None:
        raise ValueError("a month is YYYY-MM")
    year, number = int(matched[1]), int(matched[2])
    following = (year + 1, 1) if number == 12 else (year, number + 1)
    return datetime(year, number, 1, tzinfo=tz), datetime(*following, 1, tzinfo=tz)


def first_office_day(year: int, month: int, holidays: Set[date]) -> date:
    """The month's first weekday that is not a holiday (a month always has one)."""
    day = date(year, month, 1)
    while day.weekday() >= 5 or day in holidays:
        day += timedelta(days=1)
    return day


def month_due_for_review(now: datetime, rules: ReviewRules, holidays: Set[date]) -> str | None:
    """The month whose review is due at `now`: the previous local month, from office start on
    the current month's first office day (later that month too, so an instance that was down that
    day still sends it); None before then."""
    local = now.astimezone(rules.tz)
    starts = datetime.combine(
        first_office_day(local.year, local.month, holidays), rules.office_start, rules.tz
    )
    if local < starts:
        return None
    previous = local.replace(day=1) - timedelta(days=1)
    return f"{previous.year:04d}-{previous.month:02d}"


@dataclass(frozen=True)
class SentReview:
    """A month's review as sent, as the head of unit's list shows it: the month, when, how many
    rows were reviewed, how many findings of each kind, and the chain's head at that moment (the
    anchor `verify-access-log` checks). No staff or referral ids: those stay in the event.
    Reviews sent before these figures were kept have None for them."""

    month: str
    sent_at: datetime
    entries: int | None = None
    findings: Mapping[str, int] | None = None
    chain_seq: int | None = None
    chain_hash: str | None = None


def findings_by_kind(findings: Iterable[Finding]) -> dict[str, int]:
    """How many findings of each kind, every kind present (0 when none), in KINDS order."""
    counted: dict[str, int] = dict.fromkeys(KINDS, 0)
    for finding in findings:
        counted[finding.kind] += 1
    return counted
