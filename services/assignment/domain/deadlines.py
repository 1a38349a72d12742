"""Legal due times of a referral (DOMAIN.md §3; SoL 2025:400 19 kap. 6 §, 20 kap. 1-3 §§)."""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from services.assignment.domain.model import DeadlineRules, Deadlines, OfficeCalendar

PRELIMINARY_DAYS = 14
END_OF_DAY = time(23, 59, 59)
NEXT_DAY_NOON = time(12, 0)
DEFAULT_RULES = DeadlineRules()


def referral_deadlines(
    received_at: datetime,
    calendar: OfficeCalendar,
    tz: tzinfo,
    rules: DeadlineRules = DEFAULT_RULES,
    *,
    acute: bool = False,
) -> Deadlines:
    """Protection assessment and preliminary assessment due times for a received referral."""
    local = received_at.astimezone(tz)
    protection = protection_assessment_due(received_at, calendar, tz, rules, acute=acute)
    # The 14 days are calendar days; a due date on a weekend or holiday is kept and flagged.
    due_day = local.date() + timedelta(days=rules.preliminary_days)
    preliminary = datetime.combine(due_day, END_OF_DAY, tz)
    registration = registration_due(received_at, calendar, tz, rules)
    return Deadlines(protection, preliminary, not calendar.is_office_day(due_day), registration)


def protection_assessment_due(
    received_at: datetime,
    calendar: OfficeCalendar,
    tz: tzinfo,
    rules: DeadlineRules = DEFAULT_RULES,
    *,
    acute: bool = False,
) -> datetime:
    """20 kap. 1 §: "genast". An acute referral, when the unit sets `acute_protection`, that long
    after receipt at any hour; otherwise the same office day before the cut-off, else the next
    office day at noon (DOMAIN.md §3)."""
    local = received_at.astimezone(tz)
    if acute and rules.acute_protection is not None:
        return (received_at + rules.acute_protection).astimezone(tz)
    if calendar.is_office_day(local.date()) and local.time() < calendar.protection_cutoff:
        return datetime.combine(local.date(), rules.same_day_due, tz)
    return datetime.combine(next_office_day(local.date(), calendar), rules.next_day_due, tz)


def registration_due(
    received_at: datetime, calendar: OfficeCalendar, tz: tzinfo, rules: DeadlineRules = DEFAULT_RULES
) -> datetime:
    """When the intake group must have registered the referral in the system of record (issue 19):
    the same office day by `rules.registration_due`, else that time on the next office day, then
    `rules.registration_office_days` office days more. Not a statute's clock: the unit's own."""
    local = received_at.astimezone(tz)
    day = local.date()
    if not calendar.is_office_day(day) or local.time() >= rules.registration_due:
        day = next_office_day(day, calendar)
    for _ in range(rules.registration_office_days):
        day = next_office_day(day, calendar)
    return datetime.combine(day, rules.registration_due, tz)


def next_office_day(day: date, calendar: OfficeCalendar) -> date:
    """The first office day after `day`."""
    day += timedelta(days=1)
    while not calendar.is_office_day(day):
        day += timedelta(days=1)
    return day


def add_months(day: date, months: int) -> date:
    """`day` plus calendar months; the last day of the month when that date does not exist."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, _calendar.monthrange(year, month)[1]))


def investigation_due(opened_on: date, tz: tzinfo, rules: DeadlineRules = DEFAULT_RULES) -> datetime:
    """End of the day four calendar months after the investigation was opened (20 kap. 3 §)."""
    return datetime.combine(add_months(opened_on, rules.investigation_months), END_OF_DAY, tz)


def feedback_due(decided_at: datetime, tz: tzinfo, rules: DeadlineRules = DEFAULT_RULES) -> datetime:
    """End of the day one week after the decision a mandatory reporter asked to hear of (19 kap. 6 §).

    "Within one week" is read as seven calendar days, like the 14 days of the preliminary
    assessment: a due day on a weekend or holiday is kept, not moved to the next office day.
    """
    day = decided_at.astimezone(tz).date() + timedelta(days=rules.feedback_days)
    return datetime.combine(day, END_OF_DAY, tz)


def feedback_at_once(
    at: datetime, calendar: OfficeCalendar, tz: tzinfo, rules: DeadlineRules = DEFAULT_RULES
) -> datetime:
    """When feedback owed "at once" is due: read as the protection assessment's "genast" is
    (DOMAIN.md §3): by `same_day_due` when `at` is on an office day before the cut-off, else by
    `next_day_due` on the next office day."""
    local = at.astimezone(tz)
    if calendar.is_office_day(local.date()) and local.time() < calendar.protection_cutoff:
        return datetime.combine(local.date(), rules.same_day_due, tz)
    return datetime.combine(next_office_day(local.date(), calendar), rules.next_day_due, tz)


def reporter_feedback_due(
    decided_at: datetime,
    decision: str,
    requested_at: datetime,
    calendar: OfficeCalendar,
    tz: tzinfo,
    rules: DeadlineRules = DEFAULT_RULES,
) -> datetime:
    """When a mandatory reporter who asked must be told the outcome (19 kap. 6 §): a week after the
    decision; at once when the request came after the decision, or when the referral joined an
    investigation already under way (there is nothing left to wait for)."""
    if decision == "joined_ongoing" or requested_at > decided_at:
        return feedback_at_once(max(decided_at, requested_at), calendar, tz, rules)
    return feedback_due(decided_at, tz, rules)


@dataclass(frozen=True)
class Alert:
    """A deadline event to emit: `approaching` at a lead time before the due time, or `breached`."""

    kind: str  # "approaching" | "breached"
    lead: timedelta | None

    @property
    def key(self) -> str:
        """Identifies the alert among those of one deadline, for exactly-once emission."""
        return "breached" if self.lead is None else f"approaching:{int(self.lead.total_seconds())}"


def alerts_due(
    due_at: datetime, now: datetime, leads: Sequence[timedelta], emitted: Collection[str]
) -> list[Alert]:
    """Alerts whose moment has come and that were not emitted yet, for an unmet deadline.

    Once the deadline has passed only `breached` is due: a reminder that it is approaching
    would then be wrong, so reminders missed while nobody ran are dropped, not sent late.
    """
    if now >= due_at:
        return [] if "breached" in emitted else [Alert("breached", None)]
    due = [Alert("approaching", lead) for lead in sorted(leads, reverse=True) if now >= due_at - lead]
    return [a for a in due if a.key not in emitted]


@dataclass(frozen=True)
class OpenDeadline:
    """A legal clock still running on a case, and the alerts already emitted for it."""

    referral_id: str
    family_key: str
    team: str
    caseworker: str | None  # None for registration: the intake group's work, nobody's own
    name: str  # protection_assessment | preliminary_assessment | investigation | reporter_feedback
    # | registration
    due_at: datetime
    emitted: frozenset[str]  # Alert.key of each alert emitted for this due time

    def alerts_due(self, now: datetime, rules: DeadlineRules) -> list[Alert]:
        """The alerts to emit now (`alerts_due` with this deadline's reminder leads)."""
        return alerts_due(self.due_at, now, rules.reminders.get(self.name, ()), self.emitted)


def longest_reminder(rules: DeadlineRules) -> timedelta:
    """The longest lead before a due time at which any reminder is sent."""
    return max((max(leads, default=timedelta(0)) for leads in rules.reminders.values()), default=timedelta(0))
