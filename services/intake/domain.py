"""Intake rules: personal identity numbers, reporter codes, one referral per child.

Pure: standard library only. Ids and pseudonymous keys come in as functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

MANDATORY_REPORTERS = frozenset(
    {
        "health_care",
        "dental_care",
        "social_services",
        "lss",
        "preschool",
        "school",
        "after_school",
        "police",
        "security_guard",
        "employment_service",
        "social_insurance",
        "prison_probation",
        "enforcement",
        "coast_guard",
        "county_board",
        "migration",
        "forensic_medicine",
        "tax_agency",
        "security_service",
        "customs",
        "prosecution",
        "other_authority",
        "private_business",
        "family_counselling",
    }
)
OTHER_REPORTERS = frozenset({"private_person", "relative", "child_self", "guardian"})
MAY_BE_ANONYMOUS = frozenset({"private_person", "relative"})
CATEGORIES = frozenset(
    {
        "violence",
        "violence_witnessed",
        "sexual_abuse",
        "neglect",
        "honour_related",
        "substance_abuse_home",
        "own_behaviour",
        "crime_risk",
        "mental_health",
        "other",
    }
)

_NUMBER = re.compile(r"^(\d{2})?(\d{6})([-+]?)(\d{4})$")


class InvalidPersonalNumber(ValueError):
    """The text is not a valid personal identity or coordination number."""


def luhn_ok(ten_digits: str) -> bool:
    """True when the last digit is the Luhn check digit of the first nine."""
    total = 0
    for i, ch in enumerate(ten_digits[:9]):
        product = int(ch) * (2 if i % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10 == int(ten_digits[9])


def normalise_personal_number(text: str, today: date) -> str:
    """Return the 12-digit form `YYYYMMDDNNNC` of a valid number, or raise InvalidPersonalNumber.

    Ten-digit numbers get their century from `today`: `-` means under 100 years old, `+` means
    100 or older. Coordination numbers have the day of month plus 60.
    """
    match = _NUMBER.match(text.strip())
    if match is None:
        raise InvalidPersonalNumber("must be 10 or 12 digits, optionally with - or + before the last four")
    century, yymmdd, sep, tail = match.groups()
    if not luhn_ok(yymmdd + tail):
        raise InvalidPersonalNumber("the check digit does not match")
    if tail[:3] == "000":
        raise InvalidPersonalNumber("the birth number 000 is never issued")
    if century is None:
        century = _century(yymmdd, sep == "+", today)
    elif sep == "+":
        raise InvalidPersonalNumber("'+' is only used with 10 digits")
    _birth_date(century + yymmdd)
    return century + yymmdd + tail


def _century(yymmdd: str, plus: bool, today: date) -> str:
    year = int(yymmdd[:2])
    full = (today.year // 100) * 100 + year
    if full > today.year:
        full -= 100
    if plus:
        full -= 100
    return str(full // 100)


def _birth_date(yyyymmdd: str) -> date:
    day = int(yyyymmdd[6:8])
    if day > 60:  # coordination number
        day -= 60
    try:
        return date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), day)
    except ValueError:
        raise InvalidPersonalNumber("the date part is not a real calendar date") from None


@dataclass(frozen=True)
class ChildIn:
    """One child of a submission, as much as intake needs to route it."""

    personal_number: str | None  # 12-digit normalised, or None when unknown
    protected_identity: bool


@dataclass(frozen=True)
class ReferralOut:
    """One referral per child: opaque id and pseudonymous keys only."""

    referral_id: str
    child_index: int
    child_key: str
    family_key: str
    protected_identity: bool
    sibling_referral_ids: tuple[str, ...]


def split_into_referrals(
    children: Sequence[ChildIn],
    guardian_numbers: Sequence[str],
    *,
    new_id: Callable[[], str],
    key_of: Callable[[str, str], str],
    random_key: Callable[[str], str],
) -> list[ReferralOut]:
    """One referral per child, siblings linked and sharing a family key.

    Children with a known number get a stable `child_key`; others a random key a later link can
    merge. Siblings in different submissions share a family key when they name the same guardian.
    """
    ids = [new_id() for _ in children]
    family_key = key_of("family", min(guardian_numbers)) if guardian_numbers else random_key("family")
    return [
        ReferralOut(
            referral_id=ids[i],
            child_index=i,
            child_key=key_of("child", c.personal_number) if c.personal_number else random_key("child"),
            family_key=family_key,
            protected_identity=c.protected_identity,
            sibling_referral_ids=tuple(x for x in ids if x != ids[i]),
        )
        for i, c in enumerate(children)
    ]
