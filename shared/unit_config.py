"""The unit's configuration file (teams, people, rotation): schema and loading.

The file is validated at start-up; a mistake stops the service with a message naming the field.
This module only describes and checks the file; the rules that use it live in each domain.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError, field_validator, model_validator

StaffId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9\-]{0,39}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Person(_Strict):
    """A member of staff."""

    id: StaffId
    name: str = Field(min_length=1, max_length=100)
    email: EmailStr
    role: Literal[
        "caseworker", "manager", "head_of_unit", "intake", "out_of_hours", "partner", "occupational_health"
    ] = "caseworker"
    employment_rate: float = Field(default=1.0, gt=0, le=1)
    hire_date: date | None = None
    mentor: StaffId | None = None
    # Issue 22: the last day of employment. Someone who has left stays in the file (the unit's
    # history: the outcome report counts who joined and who left) but gets no referrals after it.
    left_on: date | None = None


class Team(_Strict):
    """An investigation team: a manager, caseworkers, and a Teams channel webhook."""

    id: StaffId
    name: str
    manager: Person
    members: tuple[Person, ...] = Field(min_length=1)
    teams_webhook: str | None = None


class Rotation(_Strict):
    """Teams take turns on duty, `period_days` at a time, handing over at local time."""

    order: tuple[StaffId, ...] = Field(min_length=1)
    period_days: int = Field(default=14, ge=1, le=366)
    anchor: datetime
    handover_time: time = time(8, 0)
    timezone: str = "Europe/Stockholm"

    @model_validator(mode="after")
    def _anchor_is_aware(self) -> Rotation:
        if self.anchor.tzinfo is None:
            raise ValueError("anchor must carry a UTC offset, e.g. 2026-01-05T08:00:00+01:00")
        return self


class OfficeHours(_Strict):
    """When the office is staffed (local time, Monday to Friday except public holidays)."""

    start: time = time(8, 0)
    end: time = time(17, 0)
    protection_cutoff: time = time(15, 0)


class CaseWeights(_Strict):
    """How much a case weighs in a caseload: the heaviest category, plus acute and interpreter extras."""

    default: float = Field(default=1.0, gt=0)
    categories: dict[str, float] = Field(default_factory=dict)
    acute_danger: float = Field(default=0.5, ge=0)
    interpreter: float = Field(default=0.25, ge=0)


class RampStep(_Strict):
    """A new hire's capacity factor while fewer than `until_month` months have passed since hire."""

    until_month: int = Field(ge=1, le=120)
    factor: float = Field(gt=0, le=1)


class NewHires(_Strict):
    """Mentoring of new hires (DOMAIN.md §1): a lighter, simpler caseload for the first months."""

    mentoring_months: int = Field(default=24, ge=0, le=120)
    mentoring_share: float = Field(default=0.5, ge=0, lt=1)
    ramp: tuple[RampStep, ...] = (
        RampStep(until_month=3, factor=0.4),
        RampStep(until_month=6, factor=0.6),
        RampStep(until_month=12, factor=0.8),
    )
    restricted_months: int = Field(default=6, ge=0, le=120)
    restricted_categories: tuple[str, ...] = ("sexual_abuse", "honour_related")
    restrict_acute: bool = True


class BackFromLeave(_Strict):
    """Someone back from an absence takes at most `max_new_per_day` new cases for `days` days."""

    days: int = Field(default=5, ge=0, le=60)
    max_new_per_day: int = Field(default=2, ge=1, le=50)


class ConflictOfInterest(_Strict):
    """A staff member who must not handle referrals with this pseudonymous child or family key."""

    staff_id: StaffId
    key: str = Field(min_length=1, max_length=128)


class Caseload(_Strict):
    """Weights and caps of the weighted caseload."""

    max_load: float = Field(default=15.0, gt=0)
    weights: CaseWeights = CaseWeights()


class Assignment(_Strict):
    """How a caseworker is chosen inside the team (DOMAIN.md §1, issue 4)."""

    continuity_days: int = Field(default=180, ge=0, le=3650)
    caseload: Caseload = Caseload()
    new_hires: NewHires = NewHires()
    back_from_leave: BackFromLeave = BackFromLeave()
    conflicts_of_interest: tuple[ConflictOfInterest, ...] = ()


DeadlineName = Literal[
    "protection_assessment", "preliminary_assessment", "investigation", "reporter_feedback", "registration"
]


def _default_reminders() -> dict[DeadlineName, tuple[timedelta, ...]]:
    days = (timedelta(days=3), timedelta(days=1))
    return {
        "protection_assessment": (timedelta(hours=2),),
        "preliminary_assessment": days,
        "investigation": days,
        "reporter_feedback": days,
        "registration": (timedelta(hours=2),),
    }


class DeadlineRules(_Strict):
    """Legal clocks (DOMAIN.md §3) and reminder lead times before each due time."""

    protection_same_day_due: time = time(17, 0)
    protection_next_day_due: time = time(12, 0)
    # A referral flagged as acute danger: its protection assessment is due this long after
    # receipt, whatever the hour ("genast", 20 kap. 1 §), instead of the office-day rule above.
    # Left out, acute referrals follow the office-day rule like any other.
    acute_protection_assessment: timedelta | None = Field(
        default=None, gt=timedelta(0), le=timedelta(hours=24)
    )
    preliminary_days: int = Field(default=14, ge=1, le=60)
    investigation_months: int = Field(default=4, ge=1, le=24)
    # How far one extension decision may move an investigation's due date (20 kap. 3 §: "for a
    # stated period"); a longer one is refused as a likely typo (a year 2100 once passed).
    max_extension_months: int = Field(default=6, ge=1, le=24)
    feedback_days: int = Field(default=7, ge=1, le=60)
    # Issue 19: the intake group registers each referral in the system of record the day it
    # arrives, by this local time; one arriving later or on a non-office day, the next office
    # day. `registration_office_days` adds whole office days to that.
    registration_due: time = time(16, 0)
    registration_office_days: int = Field(default=0, ge=0, le=10)
    reminders: dict[DeadlineName, tuple[timedelta, ...]] = Field(default_factory=_default_reminders)
    scan_interval_s: float = Field(default=30.0, gt=0)


# `requester`: whoever raised what the event is about (an overload flag, a consultation booking,
# an incident report); `occupational_health`: working_environment.occupational_health (issue 22).
Recipient = Literal[
    "caseworker",
    "mentor",
    "manager",
    "head_of_unit",
    "intake",
    "out_of_hours",
    "team",
    "requester",
    "occupational_health",
]


# The events staff can be told about; a key outside this list is a typo, refused at start-up.
RoutedEvent = Literal[
    "referral.received",
    "referral.assigned",
    "referral.reassigned",
    "deadline.approaching",
    "deadline.breached",
    "rotation.handover",
    # Issue 19: a registration deadline (`deadline.*` with `deadline: registration`) is routed by
    # these keys, not the general deadline ones; break-the-glass and the monthly access review.
    "registration.approaching",
    "registration.breached",
    "access.break_glass",
    "access.review",
    # Issue 22: the working environment (topic workplace.v1).
    "overload.flagged",
    "overload.escalated",
    "overload.responded",
    "consultation.booked",
    "consultation.reminder",
    "consultation.cancelled",
    "incident.recorded",
]


def _default_routes() -> dict[RoutedEvent, tuple[Recipient, ...]]:
    return {
        "referral.received": ("intake", "out_of_hours"),
        "referral.assigned": ("caseworker", "mentor", "team"),
        "referral.reassigned": ("caseworker", "mentor", "team"),
        "deadline.approaching": ("caseworker",),
        "deadline.breached": ("caseworker", "manager"),
        "rotation.handover": ("team",),
        "registration.approaching": ("intake",),
        "registration.breached": ("intake", "manager"),
        "access.break_glass": ("manager",),
        "access.review": ("head_of_unit",),
        # The flagged person's manager at once (email, and Teams through their staff webhook:
        # never the team channel, a colleague's overload is not the team's business); unanswered,
        # the head of unit; the answer goes back to the person who flagged.
        "overload.flagged": ("manager",),
        "overload.escalated": ("head_of_unit",),
        "overload.responded": ("requester",),
        # The booker gets the iCalendar invitation (and its cancellation); the team a card.
        "consultation.booked": ("requester", "team"),
        "consultation.reminder": ("requester", "team"),
        "consultation.cancelled": ("requester", "team"),
        "incident.recorded": ("manager", "occupational_health"),
    }


class QuietHours(_Strict):
    """Non-acute messages outside office hours wait for one digest at the next office start.

    Opt-in: the dev stack and its end-to-end tests run at every hour and expect mail at once.
    """

    enabled: bool = False


class Escalation(_Strict):
    """An acute referral nobody acknowledged goes to the team manager, then the head of unit."""

    enabled: bool = True
    after: timedelta = Field(default=timedelta(minutes=30), gt=timedelta(0))
    scan_interval_s: float = Field(default=15.0, gt=0)


class NotificationRoutes(_Strict):
    """Who is told about what, by event type (e.g. `deadline.breached: [caseworker, manager]`).

    `out_of_hours` is told only about acute referrals outside office hours; `team` is the
    team's Teams channel, every other recipient gets email, and also Teams when `staff_webhooks`
    gives them a webhook of their own (a flow posting to a chat with that person alone).
    """

    routes: dict[RoutedEvent, tuple[Recipient, ...]] = Field(default_factory=_default_routes)
    staff_webhooks: dict[StaffId, str] = Field(default_factory=dict)
    quiet_hours: QuietHours = QuietHours()
    escalation: Escalation = Escalation()
    language: Literal["sv", "en"] | None = None
    teams_rate_per_s: float = Field(default=1.0, gt=0, le=10)

    def recipients(self, event_type: str) -> tuple[Recipient, ...]:
        """Who is told about an event of this type; nobody for a type without a route."""
        for routed, recipients in self.routes.items():
            if routed == event_type:
                return recipients
        return ()


# Innermost first, so a default may itself hold a variable: ${A:-http://x:${PORT:-80}}.
_VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::-([^${}]*))?\}")


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    """`${NAME}` and `${NAME:-default}` in every string of a parsed file, from `env`.

    So one file serves every deployment: the Teams webhooks (signed URLs, secrets) and the
    links' `base_url` come from the environment, and the dev stack's port variables move them.
    """
    if isinstance(node, str):
        for _ in range(8):  # nesting depth; a value that names itself stops here
            expanded = _VARIABLE.sub(lambda m: _variable(m, env), node)
            if expanded == node:
                break
            node = expanded
        return node
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    return node


def _variable(match: re.Match[str], env: Mapping[str, str]) -> str:
    name, default = match.group(1), match.group(2)
    if name in env:
        return env[name]
    if default is None:
        raise ValueError(f"${{{name}}} is used but the environment variable {name} is not set")
    return default


class Retention(_Strict):
    """When intake erases a referral's received copy (never before registration, never under hold).

    The unit's document management plan for intake's working copy (issue 23)."""

    erase_registered_after_days: int | None = Field(
        default=None, ge=0, le=36500, description="days after registration; null: never automatically"
    )
    research_sample_days: tuple[int, ...] = Field(
        default=(), description="days of birth the archive authority holds for research, e.g. [5, 15, 25]"
    )
    run_at: time = time(3, 0)  # local time of the daily run
    check_interval_s: float = Field(default=600.0, gt=0)

    @field_validator("research_sample_days")
    @classmethod
    def _days_of_a_month(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 1 <= d <= 31 for d in value):
            raise ValueError("days of birth lie in 1-31")
        return value


Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class MeetingSlot(_Strict):
    """A fixed recurring meeting time of one or more teams (issue 22).

    `consultation`: colleagues elsewhere in social services (role `partner`) and staff book
    `booking_minutes`-long consultations inside it; `meeting`: a fixed meeting, shown, not
    bookable; `handover`: the handover meeting on each rotation change day, between the team
    handing over and the team taking over (`weekday` left out). Times are the rotation's local time.
    """

    id: StaffId
    title: str = Field(min_length=1, max_length=120)
    kind: Literal["consultation", "meeting", "handover"] = "consultation"
    teams: tuple[StaffId, ...] = Field(default=(), description="empty: every team")
    weekday: Weekday | None = None
    start: time
    end: time
    booking_minutes: int | None = Field(default=None, ge=5, le=480)
    counterpart: str | None = Field(default=None, max_length=120, description="e.g. Öppenvården")

    @model_validator(mode="after")
    def _consistent(self) -> MeetingSlot:
        if self.end <= self.start:
            raise ValueError(f"meeting slot {self.id}: end must be after start")
        if self.kind == "handover" and self.weekday is not None:
            raise ValueError(f"meeting slot {self.id}: a handover meeting follows the rotation, no weekday")
        if self.kind != "handover" and self.weekday is None:
            raise ValueError(f"meeting slot {self.id}: weekday is required")
        if self.kind == "consultation" and self.booking_minutes is None:
            raise ValueError(f"meeting slot {self.id}: a consultation slot needs booking_minutes")
        return self


class OverloadRules(_Strict):
    """An overload flag nobody answered goes to the head of unit after this many office hours."""

    escalate_after_office_hours: float = Field(default=4.0, gt=0, le=80)
    scan_interval_s: float = Field(default=60.0, gt=0)


class WorkingEnvironment(_Strict):
    """Issue 22: overload flags, fixed meeting times and consultations, threats and violence."""

    occupational_health: Person | None = None
    partners: tuple[Person, ...] = ()
    meeting_slots: tuple[MeetingSlot, ...] = ()
    overload: OverloadRules = OverloadRules()
    consultation_reminder: timedelta = Field(default=timedelta(days=1), gt=timedelta(0))
    booking_horizon_days: int = Field(default=28, ge=1, le=366)


class UnitConfig(_Strict):
    """The whole unit configuration file."""

    unit: str
    base_url: str = "http://127.0.0.1:8082"
    teams: tuple[Team, ...] = Field(min_length=1)
    head_of_unit: Person
    intake_group: tuple[Person, ...] = ()
    out_of_hours: Person | None = None
    rotation: Rotation
    office_hours: OfficeHours = OfficeHours()
    assignment_policy: Literal["next_office_hours", "received_at"] = "next_office_hours"
    language: Literal["sv", "en"] = "sv"
    assignment: Assignment = Assignment()
    deadlines: DeadlineRules = DeadlineRules()
    notifications: NotificationRoutes = NotificationRoutes()
    retention: Retention = Retention()
    working_environment: WorkingEnvironment = WorkingEnvironment()

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, raw: Any) -> Any:
        return interpolate(raw, os.environ)

    @model_validator(mode="after")
    def _references_resolve(self) -> UnitConfig:
        team_ids = [t.id for t in self.teams]
        if len(set(team_ids)) != len(team_ids):
            raise ValueError("team ids must be unique")
        unknown = [t for t in self.rotation.order if t not in team_ids]
        if unknown:
            raise ValueError(f"rotation.order names unknown teams: {unknown}")
        people = [p.id for p in self.all_people()]
        duplicates = sorted({p for p in people if people.count(p) > 1})
        if duplicates:
            raise ValueError(f"staff ids must be unique, repeated: {duplicates}")
        for team in self.teams:
            for member in team.members:
                if member.mentor is not None and member.mentor not in people:
                    raise ValueError(f"{member.id}: mentor {member.mentor!r} is not a staff id")
                if member.mentor is not None and member.hire_date is None:
                    raise ValueError(f"{member.id}: a mentored new hire needs a hire_date")
        for slot in self.working_environment.meeting_slots:
            strangers = [t for t in slot.teams if t not in team_ids]
            if strangers:
                raise ValueError(f"working_environment.meeting_slots.{slot.id}: unknown teams {strangers}")
        slot_ids = [s.id for s in self.working_environment.meeting_slots]
        if len(set(slot_ids)) != len(slot_ids):
            raise ValueError("working_environment.meeting_slots: ids must be unique")
        for conflict in self.assignment.conflicts_of_interest:
            if conflict.staff_id not in people:
                raise ValueError(f"assignment.conflicts_of_interest: unknown staff id {conflict.staff_id!r}")
        return self

    def all_people(self) -> list[Person]:
        """Every person named in the file."""
        people = [self.head_of_unit, *self.intake_group]
        if self.out_of_hours is not None:
            people.append(self.out_of_hours)
        work = self.working_environment
        if work.occupational_health is not None:
            people.append(work.occupational_health)
        people.extend(work.partners)
        for team in self.teams:
            people.extend([team.manager, *team.members])
        return people

    def person(self, staff_id: str) -> Person | None:
        """The person with this staff id, if any."""
        return next((p for p in self.all_people() if p.id == staff_id), None)

    def team(self, team_id: str) -> Team | None:
        """The team with this id, if any."""
        return next((t for t in self.teams if t.id == team_id), None)


class UnitConfigError(ValueError):
    """The unit configuration file is missing or invalid; the message names the field."""


def load_unit_config(path: Path) -> UnitConfig:
    """Read and validate the unit configuration, raising UnitConfigError with field paths."""
    try:
        raw = yaml.safe_load(path.read_text("utf-8"))
    except OSError as exc:
        raise UnitConfigError(f"cannot read unit config {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UnitConfigError(f"unit config {path} is not valid YAML: {exc}") from None
    try:
        return UnitConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()]
        raise UnitConfigError(f"unit config {path} is invalid:\n" + "\n".join(lines)) from None
