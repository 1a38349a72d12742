"""The non-personal statistics record of a referral (issue 23): what the national follow-up of
reports (NUSO) asks for, kept apart from the personal details so that it survives their erasure.

It holds codes, flags, a sex code, an age in whole years and instants; never a name, a number or
free text. It is written in the same statement that stores the referral, so it is never missing;
the protection assessment and the decision are projected into it from assignment's events.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from services.intake.domain.referrals import Child

LOCAL = ZoneInfo("Europe/Stockholm")
SEXES = ("female", "male", "unknown")
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
    sex: str  # one of SEXES
    age: int | None  # whole years at receipt; None when neither number nor birth date is known
    protection_assessed_at: datetime | None = None
    decision: str | None = None  # one of DECISIONS once decided
    decided_at: datetime | None = None


@dataclass(frozen=True)
class Decided:
    """A `referrals.updated.v1` event as the statistics take it: the protection assessment or the
    decision, and when it was made."""

    referral_id: str
    at: datetime
    protection_assessed: bool
    decision: str | None


def sex_from_number(personal_number: str | None) -> str:
    """`female` for an even, `male` for an odd second-to-last digit of a personal identity or
    coordination number (the birth number's last digit), `unknown` without a number.

    Used for the national statistics only (docs/STATISTICS.md says why), never to route a referral."""
    if personal_number is None:
        return "unknown"
    return "female" if int(personal_number[-2]) % 2 == 0 else "male"


def birth_date_from_number(personal_number: str) -> date:
    """The birth date in a normalised 12-digit number (a coordination number's day less 60)."""
    day = int(personal_number[6:8])
    return date(int(personal_number[:4]), int(personal_number[4:6]), day - 60 if day > 60 else day)


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
    """The child's age in whole years on the local receipt date: from the number when known,
    else from the birth date the reporter gave, else unknown."""
    if child.personal_number is not None:
        born: date | None = birth_date_from_number(child.personal_number)
    else:
        born = child.birth_date
    return None if born is None else age_in_years(born, local_date(received_at))


def projected(record: StatisticsRecord, change: Decided) -> StatisticsRecord:
    """The record after an assessment or a decision: the first protection assessment's time is
    kept (later ones are re-assessments); a decision replaces an earlier one."""
    assessed_at = record.protection_assessed_at
    if change.protection_assessed and assessed_at is None:
        assessed_at = change.at
    if change.decision is None:
        return replace(record, protection_assessed_at=assessed_at)
    return replace(record, protection_assessed_at=assessed_at, decision=change.decision, decided_at=change.at)
