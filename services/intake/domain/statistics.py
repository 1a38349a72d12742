"""The non-personal statistics record of a referral (issue 23): what the national follow-up of
reports (NUSO) asks for, kept apart from the personal details so that it survives their erasure.

It holds codes, flags, a sex code, an age in whole years and instants; never a name, a number or
free text. Sex and age come from what the reporter gave on the form (the child's `sex` and
`birth_date`), never from the personal identity number (DOMAIN.md §5). It is written in the same
statement that stores the referral, so it is never missing; the protection assessment and the
decision are projected into it from assignment's events.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import get_args
from zoneinfo import ZoneInfo

from services.intake.domain.referrals import Child, Sex

LOCAL = ZoneInfo("Europe/Stockholm")
SEXES: tuple[Sex, ...] = get_args(Sex)
DECISIONS = ("open_investigation", "no_investigation", "joined_ongoing")


@dataclass(frozen=True)
class StatisticsRecord:
    """One referral as the statistics see it. `received_at` is the legal receipt time (UTC)."""

    referral_id: str
    received_at: datetime
    kind: str
    channel: str
    reporter_type: str
    categories: tuple[str, ...]
    acute_danger: bool
    sex: str  # one of SEXES, as the reporter gave it
    age: int | None  # whole years at receipt from the given birth date; None without one
    protection_assessed_at: datetime | None = None
    decision: str | None = None  # one of DECISIONS once decided
    decided_at: datetime | None = None


@dataclass(frozen=True)
class CaseProgress:
    """A `referrals.updated.v1` event as the statistics take it: the protection assessment or the
    decision, and when it was made."""

    referral_id: str
    at: datetime
    protection_assessed: bool
    decision: str | None


def age_in_years(born: date, on: date) -> int | None:
    """Whole years from `born` to `on`; None when `born` lies after `on` (a wrong birth date)."""
    if born > on:
        return None
    before_birthday = (on.month, on.day) < (born.month, born.day)
    return on.year - born.year - int(before_birthday)


def local_date(instant: datetime) -> date:
    """The date of an instant in Europe/Stockholm."""
    return instant.astimezone(LOCAL).date()


def age_at_receipt(child: Child, received_at: datetime) -> int | None:
    """The child's age in whole years on the local receipt date, from the birth date the reporter
    gave; unknown without one. Never from the number: a coordination number or a reassigned
    number does not carry a reliable date (DOMAIN.md §5)."""
    if child.birth_date is None:
        return None
    return age_in_years(child.birth_date, local_date(received_at))


def projected(record: StatisticsRecord, change: CaseProgress) -> StatisticsRecord:
    """The record after an assessment or a decision: the first protection assessment's time is
    kept (later ones are re-assessments); a decision replaces an earlier one."""
    assessed_at = record.protection_assessed_at
    if change.protection_assessed and assessed_at is None:
        assessed_at = change.at
    if change.decision is None:
        return replace(record, protection_assessed_at=assessed_at)
    return replace(record, protection_assessed_at=assessed_at, decision=change.decision, decided_at=change.at)
