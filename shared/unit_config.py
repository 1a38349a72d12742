"""The unit's configuration file (teams, people, rotation): schema and loading.

The file is validated at start-up; a mistake stops the service with a message naming the field.
This module only describes and checks the file; the rules that use it live in each domain.
"""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError, model_validator

StaffId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9\-]{0,39}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Person(_Strict):
    """A member of staff."""

    id: StaffId
    name: str = Field(min_length=1, max_length=100)
    email: EmailStr
    role: Literal["caseworker", "manager", "head_of_unit", "intake", "out_of_hours"] = "caseworker"
    employment_rate: float = Field(default=1.0, gt=0, le=1)
    hire_date: date | None = None
    mentor: StaffId | None = None


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
        return self

    def all_people(self) -> list[Person]:
        """Every person named in the file."""
        people = [self.head_of_unit, *self.intake_group]
        if self.out_of_hours is not None:
            people.append(self.out_of_hours)
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
