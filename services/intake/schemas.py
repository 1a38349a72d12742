"""The portal's request body (CONTRACTS.md §2) as a strict pydantic model: the wire format of the
HTTP edge (and of an Open ePlatform form once mapped), translated to the domain's `Submission`
before any use case sees it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from services.intake.domain import submissions
from services.intake.domain.personal_numbers import InvalidPersonalNumber, normalise_personal_number
from services.intake.domain.referrals import Child as ChildToRoute
from services.intake.domain.referrals import Sex
from services.intake.domain.reporting import (
    CATEGORIES,
    MANDATORY_REPORTERS,
    MAY_BE_ANONYMOUS,
    OTHER_REPORTERS,
    Channel,
    Kind,
)

Text = Annotated[str, Field(min_length=1, max_length=200)]
MAX_FUTURE = timedelta(minutes=5)
# Times outside these years are refused before any arithmetic on them: converting year 1 to UTC
# overflows (issue 24: a plain-text 500, and assignment stuck on the record).
PLAUSIBLE_YEARS = range(2000, 2101)
DEFAULT_MAX_AGE_DAYS = 365


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _personal_number(value: str | None, info: ValidationInfo) -> str | None:
    if value is None:
        return None
    today: date = (info.context or {}).get("today") or date.today()
    try:
        return normalise_personal_number(value, today)
    except InvalidPersonalNumber as exc:
        raise ValueError(f"not a valid personal identity or coordination number: {exc}") from None


class Reporter(_Wire):
    """Who made the report."""

    type: str
    anonymous: bool = False
    name: Text | None = None
    organisation: Text | None = None
    role: Text | None = None
    phone: Annotated[str, Field(max_length=40, pattern=r"^[0-9+\-() ]{5,40}$")] | None = None
    email: Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    feedback_requested: bool = False

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in MANDATORY_REPORTERS | OTHER_REPORTERS:
            raise ValueError("unknown reporter type; see the list in the API documentation")
        return value

    @model_validator(mode="after")
    def _anonymity(self) -> Reporter:
        if self.anonymous:
            if self.type not in MAY_BE_ANONYMOUS:
                raise ValueError("only private_person and relative may report anonymously")
            given = [f for f in ("name", "organisation", "role", "phone", "email") if getattr(self, f)]
            if given:
                raise ValueError(f"an anonymous report may not carry {', '.join(given)}")
        return self


class Child(_Wire):
    """A child the referral concerns: a valid number, or at least a name or birth date.

    `sex` and `birth_date` are what the national statistics (docs/STATISTICS.md) count by; intake
    never reads either from the personal identity number (DOMAIN.md §5)."""

    personal_number: str | None = None
    name: Text | None = None
    birth_date: date | None = None
    sex: Sex = Field(
        default="unknown",
        description="As the reporter gave it; `unknown` when not asked or not known. "
        "Never derived from the personal identity number.",
    )
    protected_identity: bool = False
    school: Text | None = None

    _check_number = field_validator("personal_number")(_personal_number)

    @model_validator(mode="after")
    def _identifiable(self) -> Child:
        if self.personal_number is None and self.name is None and self.birth_date is None:
            raise ValueError("give a personal_number, or at least a name or birth_date")
        return self


class Guardian(_Wire):
    """A guardian named in the form."""

    personal_number: str | None = None
    name: Text | None = None
    informed: bool | None = None

    _check_number = field_validator("personal_number")(_personal_number)


class Concern(_Wire):
    """What the report is about."""

    categories: tuple[str, ...] = Field(min_length=1, max_length=10)
    description: Annotated[str, Field(max_length=20_000)] = ""
    acute_danger: bool = False
    child_location: Annotated[str, Field(max_length=500)] | None = None
    interpreter_language: Annotated[str, Field(max_length=40)] | None = None

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if set(value) - CATEGORIES:  # the answer names the allowed codes, never what was sent
            raise ValueError(f"unknown category; allowed: {', '.join(sorted(CATEGORIES))}")
        return tuple(dict.fromkeys(value))


class Submission(_Wire):
    """One submitted e-service form."""

    submission_id: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:\-]+$")]
    kind: Kind
    channel: Channel
    submitted_at: AwareDatetime
    reporter: Reporter
    children: tuple[Child, ...] = Field(min_length=1, max_length=20)
    guardians: tuple[Guardian, ...] = Field(default=(), max_length=10)
    concern: Concern

    @field_validator("submitted_at")
    @classmethod
    def _plausible(cls, value: datetime, info: ValidationInfo) -> datetime:
        if value.year not in PLAUSIBLE_YEARS:
            raise ValueError(f"submitted_at must lie in the years {PLAUSIBLE_YEARS[0]}-{PLAUSIBLE_YEARS[-1]}")
        context = info.context or {}
        now: datetime | None = context.get("now")
        if now is not None and value > now + MAX_FUTURE:
            raise ValueError("submitted_at lies more than 5 minutes in the future")
        max_age = timedelta(days=context.get("max_age_days", DEFAULT_MAX_AGE_DAYS))
        if now is not None and value < now - max_age:
            raise ValueError(f"submitted_at lies more than {max_age.days} days in the past")
        return value

    def to_domain(self) -> submissions.Submission:
        """What intake routes by: codes, flags and the children's and guardians' numbers."""
        return submissions.Submission(
            portal_id=self.submission_id,
            kind=self.kind,
            channel=self.channel,
            submitted_at=self.submitted_at,
            reporter_type=self.reporter.type,
            feedback_requested=self.reporter.feedback_requested,
            categories=self.concern.categories,
            acute_danger=self.concern.acute_danger,
            interpreter_needed=self.concern.interpreter_language is not None,
            children=tuple(
                ChildToRoute(c.personal_number, c.protected_identity, c.birth_date, c.sex)
                for c in self.children
            ),
            guardian_numbers=tuple(g.personal_number for g in self.guardians if g.personal_number),
        )


def validation_context(now: datetime, max_age_days: int = DEFAULT_MAX_AGE_DAYS) -> dict[str, Any]:
    """The context `Submission.model_validate_json` needs: the current time and date, and how far
    back `submitted_at` may lie (`PORTAL__MAX_AGE_DAYS`)."""
    return {"now": now, "today": now.date(), "max_age_days": max_age_days}
