"""Synthetic test and demo data: valid-looking personal identity numbers and invented names.

Numbers use serials 980-999, which tests and demos share by convention; they are generated, not
taken from any register.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

FIRST_NAMES = (
    "Alva",
    "Elsa",
    "Maja",
    "Saga",
    "Ebba",
    "Liam",
    "Noah",
    "Hugo",
    "Nils",
    "Otto",
    "Vera",
    "Tyra",
    "Leo",
    "Ture",
    "Idun",
    "Edvin",
    "Signe",
    "Malte",
    "Frej",
    "Stina",
)
LAST_NAMES = (
    "Testsson",
    "Exempelberg",
    "Provlund",
    "Demodahl",
    "Påhittad",
    "Fiktivsson",
    "Låtsasgren",
    "Syntetström",
)


def check_digit(nine: str) -> int:
    """The Luhn check digit for the nine digits YYMMDDNNN."""
    total = 0
    for i, ch in enumerate(nine):
        product = int(ch) * (2 if i % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def personal_number(born: date, rng: random.Random, *, coordination: bool = False) -> str:
    """A 12-digit synthetic personal (or coordination) number for someone born on `born`."""
    day = born.day + (60 if coordination else 0)
    serial = f"{rng.randint(980, 999):03d}"
    nine = f"{born:%y%m}{day:02d}{serial}"
    return f"{born.year:04d}{born:%m}{day:02d}{serial}{check_digit(nine)}"


def child_birth_date(rng: random.Random, today: date) -> date:
    """A birth date of a child aged 0-17."""
    return today - timedelta(days=rng.randint(30, 17 * 365))


def adult_birth_date(rng: random.Random, today: date) -> date:
    """A birth date of a parent aged 20-60: with test-range serials only the date tells two
    guardians apart, so a fixed date made every twentieth submission the same family."""
    return today - timedelta(days=rng.randint(20 * 365, 60 * 365))


def full_name(rng: random.Random) -> str:
    """An invented name."""
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def submission(
    rng: random.Random,
    *,
    children: int = 1,
    acute: bool = False,
    submitted_at: datetime | None = None,
    submission_id: str | None = None,
) -> dict[str, Any]:
    """A valid portal submission: a school's report about `children` siblings with known numbers,
    each with a birth date (the one its number was made from) and a sex."""
    today = date(2026, 11, 22)
    return {
        "submission_id": submission_id or f"sim-{rng.getrandbits(64):016x}",
        "kind": "report",
        "channel": "e_service",
        "submitted_at": (submitted_at or datetime.now(UTC)).isoformat(),
        "reporter": {
            "type": "school",
            "anonymous": False,
            "name": full_name(rng),
            "organisation": "Påhittade skolan",
            "role": "Lärare",
            "phone": "070-000 00 00",
            "email": "larare@skola.example",
            "feedback_requested": True,
        },
        "children": [_child(rng, today) for _ in range(children)],
        "guardians": [
            {
                "personal_number": personal_number(adult_birth_date(rng, today), rng),
                "name": full_name(rng),
                "informed": False,
            }
        ],
        "concern": {
            "categories": ["neglect"],
            "description": "Påhittad oro, endast för test.",
            "acute_danger": acute,
            "child_location": "Skolan",
            "interpreter_language": None,
        },
    }


def _child(rng: random.Random, today: date) -> dict[str, Any]:
    """A child with a number, the birth date the number was made from and a sex: both generated
    here together, as test data; intake itself never reads one from the other (DOMAIN.md §5)."""
    born = child_birth_date(rng, today)
    return {
        "personal_number": personal_number(born, rng),
        "name": full_name(rng),
        "birth_date": born.isoformat(),
        "sex": rng.choice(("girl", "boy")),
        "protected_identity": False,
        "school": "Påhittade skolan",
    }
