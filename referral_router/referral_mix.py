"""What the portal simulator submits: synthetic reports with the mix a real unit sees.

DOMAIN.md §4 and §7: about 60 % of reports come from police, school, preschool and health care;
private persons may report anonymously (then without name or contact details); a report may name
several siblings; a few children are in acute danger or have a protected identity; and the same
children are reported again. Most forms give the child's sex and birth date (what the national
statistics count by; intake never reads them from the number, DOMAIN.md §5): the generator makes
a child's number from its birth date, so the two agree, and keeps each child's sex. Every value
is invented (referral_router/synthetic_data.py); personal identity numbers have valid check
digits and serials 980-999.

Pure: no I/O, deterministic for a seeded `random.Random`, so the proportions can be tested.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from referral_router.synthetic_data import child_birth_date, full_name, personal_number

# The four big reporter groups make up about 60 % together (DOMAIN.md §4).
BIG_FOUR = {"police": 0.20, "school": 0.17, "preschool": 0.08, "health_care": 0.15}
OTHER_MANDATORY = {
    "social_services": 0.08,
    "dental_care": 0.02,
    "after_school": 0.02,
    "lss": 0.01,
    "social_insurance": 0.01,
    "migration": 0.01,
    "prosecution": 0.01,
    "other_authority": 0.02,
    "private_business": 0.02,
}
NON_MANDATORY = {"private_person": 0.11, "relative": 0.06, "guardian": 0.02, "child_self": 0.01}
REPORTER_WEIGHTS = {**BIG_FOUR, **OTHER_MANDATORY, **NON_MANDATORY}
MAY_BE_ANONYMOUS = ("private_person", "relative")

ORGANISATIONS = {
    "police": ("Polisen, lokalpolisområde Påhittby", "Polisinspektör"),
    "school": ("Påhittade skolan", "Kurator"),
    "preschool": ("Förskolan Exempelgläntan", "Förskollärare"),
    "health_care": ("Vårdcentralen Provbacken", "Sjuksköterska"),
    "dental_care": ("Folktandvården Låtsasby", "Tandläkare"),
    "after_school": ("Fritidshemmet Testgården", "Fritidspedagog"),
    "social_services": ("Socialtjänsten, vuxenenheten", "Socialsekreterare"),
}
CATEGORY_WEIGHTS = {
    "neglect": 0.20,
    "violence_witnessed": 0.15,
    "violence": 0.12,
    "substance_abuse_home": 0.12,
    "own_behaviour": 0.12,
    "mental_health": 0.09,
    "crime_risk": 0.07,
    "sexual_abuse": 0.04,
    "honour_related": 0.03,
    "other": 0.06,
}
LANGUAGES = ("arabiska", "somaliska", "tigrinja", "dari", "ukrainska")
SEX_WEIGHTS = {"girl": 0.495, "boy": 0.495, "other": 0.01}


@dataclass(frozen=True)
class Mix:
    """Shares of the things that vary between reports; the defaults follow DOMAIN.md."""

    anonymous_share: float = 0.5  # of private persons and relatives
    sibling_share: float = 0.25  # reports naming two or three children
    acute_share: float = 0.05
    protected_share: float = 0.03  # per child
    repeat_share: float = 0.15  # reports about children reported before
    unknown_number_share: float = 0.04  # children given by name and birth date only
    interpreter_share: float = 0.06
    application_share: float = 0.04  # `kind: application` instead of a report
    sex_given_share: float = 0.9  # per child: the reporter gave the child's sex
    birth_date_given_share: float = 0.85  # per child with a known number (always without one)


@dataclass(frozen=True)
class Report:
    """One generated submission and whether it is about children reported before."""

    body: dict[str, Any]
    repeat: bool


@dataclass(frozen=True)
class _ChildFacts:
    born: date
    sex: str


@dataclass
class _Family:
    children: list[str]  # personal numbers
    guardians: list[str]
    facts: dict[str, _ChildFacts] = field(default_factory=dict)  # by number


@dataclass
class ReportMaker:
    """Makes one submission after another, remembering families so that some are reported again."""

    rng: random.Random
    mix: Mix = field(default_factory=Mix)
    families: list[_Family] = field(default_factory=list)
    issued: set[str] = field(default_factory=set)
    serial: int = 0
    prefix: str = "sim"

    def make(self, submitted_at: datetime) -> Report:
        """The next submission, as the portal would send it, dated `submitted_at`."""
        self.serial += 1
        today = submitted_at.date()
        reporter = self._reporter()
        family, repeat = self._family(today)
        children = [self._child(number, family.facts[number], reporter["type"]) for number in family.children]
        concern = self._concern(reporter["type"])
        body = {
            "submission_id": f"{self.prefix}-{self.serial:06d}-{self.rng.getrandbits(32):08x}",
            "kind": "application" if self.rng.random() < self.mix.application_share else "report",
            "channel": self._channel(reporter["type"]),
            "submitted_at": submitted_at.isoformat(),
            "reporter": reporter,
            "children": children,
            "guardians": [
                {"personal_number": g, "name": full_name(self.rng), "informed": self.rng.random() < 0.4}
                for g in family.guardians
            ],
            "concern": concern,
        }
        return Report(body, repeat)

    def _reporter(self) -> dict[str, Any]:
        kind = self.rng.choices(list(REPORTER_WEIGHTS), weights=list(REPORTER_WEIGHTS.values()))[0]
        if kind in MAY_BE_ANONYMOUS and self.rng.random() < self.mix.anonymous_share:
            # An anonymous reporter gives no name or contact details (CONTRACTS.md §2).
            return {"type": kind, "anonymous": True, "feedback_requested": False}
        organisation, role = ORGANISATIONS.get(kind, (None, None))
        reporter: dict[str, Any] = {
            "type": kind,
            "anonymous": False,
            "name": full_name(self.rng),
            "phone": f"070-{self.rng.randint(0, 999):03d} {self.rng.randint(0, 99):02d} 00",
            "email": f"rapportor{self.rng.randint(1, 999)}@exempel.example",
            "feedback_requested": self.rng.random() < (0.8 if organisation else 0.4),
        }
        if organisation:
            reporter |= {"organisation": organisation, "role": role}
        return reporter

    def _family(self, today: date) -> tuple[_Family, bool]:
        if self.families and self.rng.random() < self.mix.repeat_share:
            return self.rng.choice(self.families), True
        count = self.rng.choice((2, 2, 2, 3)) if self.rng.random() < self.mix.sibling_share else 1
        born = [self._number(child_birth_date(self.rng, today)) for _ in range(count)]
        guardians = [
            self._number(today - timedelta(days=self.rng.randint(22 * 365, 50 * 365)))[0]
            for _ in range(self.rng.choice((1, 2)))
        ]
        sexes = self.rng.choices(list(SEX_WEIGHTS), weights=list(SEX_WEIGHTS.values()), k=count)
        facts = {number: _ChildFacts(day, sex) for (number, day), sex in zip(born, sexes, strict=True)}
        family = _Family([number for number, _ in born], guardians, facts)
        self.families.append(family)
        return family, False

    def _number(self, born: date) -> tuple[str, date]:
        """A new number and the birth date it was made from."""
        # Serials 980-999 leave few numbers per birth date: draw again rather than make a new
        # child collide with one reported before (that would be an accidental repeat report).
        for _ in range(50):
            number = personal_number(born, self.rng, coordination=self.rng.random() < 0.03)
            if number not in self.issued:
                break
            born -= timedelta(days=1)
        self.issued.add(number)
        return number, born

    def _child(self, number: str, facts: _ChildFacts, reporter_type: str) -> dict[str, Any]:
        child: dict[str, Any] = {
            "personal_number": number,
            "name": full_name(self.rng),
            "birth_date": None,
            "protected_identity": self.rng.random() < self.mix.protected_share,
        }
        if reporter_type in ("school", "preschool", "after_school"):
            child["school"] = ORGANISATIONS[reporter_type][0]
        if self.rng.random() < self.mix.birth_date_given_share:
            child["birth_date"] = facts.born.isoformat()
        if self.rng.random() < self.mix.unknown_number_share:
            # The reporter did not know the number: only name and birth date.
            child["personal_number"] = None
            child["birth_date"] = facts.born.isoformat()
        if self.rng.random() < self.mix.sex_given_share:
            child["sex"] = facts.sex
        return child

    def _concern(self, reporter_type: str) -> dict[str, Any]:
        names = list(CATEGORY_WEIGHTS)
        count = self.rng.choice((1, 1, 1, 2, 2, 3))
        categories: list[str] = []
        while len(categories) < count:
            pick = self.rng.choices(names, weights=list(CATEGORY_WEIGHTS.values()))[0]
            if pick not in categories:
                categories.append(pick)
        interpreter = self.rng.random() < self.mix.interpreter_share
        return {
            "categories": categories,
            "description": "Påhittad oro från simulatorn; inga verkliga uppgifter.",
            "acute_danger": self.rng.random() < self.mix.acute_share,
            "child_location": "Hemma" if reporter_type in NON_MANDATORY else "Hos anmälaren",
            "interpreter_language": self.rng.choice(LANGUAGES) if interpreter else None,
        }

    def _channel(self, reporter_type: str) -> str:
        if reporter_type in NON_MANDATORY:
            return self.rng.choices(("e_service", "phone", "letter"), weights=(0.7, 0.25, 0.05))[0]
        return self.rng.choices(("e_service", "email", "phone"), weights=(0.85, 0.1, 0.05))[0]
