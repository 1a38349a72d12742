"""Swedish personal identity and coordination numbers (DOMAIN.md §5): validation and normal form."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

# ASCII digits only: `\d` would also take Arabic-Indic or Devanagari digits, and the same child
# would get another key.
_NUMBER = re.compile(r"^([0-9]{2})?([0-9]{6})([-+]?)([0-9]{4})$")


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
    100 or older. Coordination numbers have the day of month plus 60. The text is read in Unicode
    NFKC form (full-width digits are the digits they look like); any other digit is refused.
    """
    match = _NUMBER.match(unicodedata.normalize("NFKC", text).strip())
    if match is None:
        raise InvalidPersonalNumber(
            "must be 10 or 12 digits 0-9, optionally with - or + before the last four"
        )
    century, yymmdd, sep, tail = match.groups()
    if not luhn_ok(yymmdd + tail):
        raise InvalidPersonalNumber("the check digit does not match")
    if tail[:3] == "000":
        raise InvalidPersonalNumber("the birth number 000 is never issued")
    if century is None:
        century = _century(yymmdd, sep == "+", today)
    elif sep == "+":
        raise InvalidPersonalNumber("'+' is only used with 10 digits")
    if _birth_date(century + yymmdd) > today:
        raise InvalidPersonalNumber("the birth date lies in the future")
    return century + yymmdd + tail


def _century(yymmdd: str, plus: bool, today: date) -> str:
    """The century of a 10-digit number: the latest that puts the birth date on or before today
    (less a hundred years for `+`)."""
    full = (today.year // 100) * 100 + int(yymmdd[:2])
    if full > today.year or (full == today.year and _birth_date(f"{full}{yymmdd[2:]}") > today):
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
