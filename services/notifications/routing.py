"""Who is told about an event, on which channel, and what the notice says (from the unit config)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.notifications.domain import Notice, OfficeHours, is_office_time
from shared.clock import Clock
from shared.events import DeadlineEvent, Envelope, ReferralAssigned, ReferralReceived, RotationHandover
from shared.unit_config import UnitConfig


@dataclass(frozen=True)
class NotificationContext:
    """The unit config, office hours, clock and rendering choices, built once at start-up."""

    config: UnitConfig
    tz: ZoneInfo
    office: OfficeHours
    clock: Clock
    max_attempts: int = 8

    @property
    def language(self) -> str:
        """Notification language: `notifications.language`, else the unit's language."""
        return self.config.notifications.language or self.config.language

    def link(self, referral_id: str | None) -> str:
        """A link into the staff system, never carrying anything but the opaque reference."""
        base = self.config.base_url.rstrip("/")
        return f"{base}/v1/referrals/{referral_id}" if referral_id else base

    def office_time(self, at: datetime) -> bool:
        """Inside office hours now?"""
        return is_office_time(self.office, at)


@dataclass(frozen=True)
class Target:
    """One recipient on one channel: a staff id by email, or a team id in Teams."""

    recipient: str
    channel: str


def notice_for(event: Envelope[Any], ctx: NotificationContext) -> Notice:
    """The facts of an event that may be told; categories and client details are left out."""
    data, kind = event.data, event.event_type
    if isinstance(data, ReferralReceived):
        return Notice(
            kind, ctx.link(data.referral_id), data.referral_id, acute=data.acute_danger, at=data.received_at
        )
    if isinstance(data, RotationHandover):
        to_team, from_team = _team_name(ctx, data.to_team), _team_name(ctx, data.from_team)
        return Notice(kind, ctx.link(None), team=to_team, other_team=from_team, at=data.at)
    if isinstance(data, ReferralAssigned):
        due = [("protection_assessment", data.deadlines.protection_assessment_due),
               ("preliminary_assessment", data.deadlines.preliminary_assessment_due)]  # fmt: skip
        return Notice(
            kind, ctx.link(data.referral_id), data.referral_id, _team_name(ctx, data.team),
            caseworker=_person_name(ctx, data.caseworker), acute=data.acute_danger,
            deadlines=tuple((name, at) for name, at in due if at is not None),
        )  # fmt: skip
    if isinstance(data, DeadlineEvent):
        return Notice(
            kind, ctx.link(data.referral_id), data.referral_id, _team_name(ctx, data.team),
            caseworker=_person_name(ctx, data.caseworker) if data.caseworker else None,
            deadlines=((data.deadline, data.due_at),),
        )  # fmt: skip
    raise ValueError(f"no notice for {kind}")


def targets(event: Envelope[Any], ctx: NotificationContext) -> list[Target]:
    """Every recipient the unit config routes this event to, each once."""
    found: dict[tuple[str, str], Target] = {}
    for role in ctx.config.notifications.recipients(event.event_type):
        for target in _resolve(role, event.data, ctx):
            found.setdefault((target.recipient, target.channel), target)
    return list(found.values())


def _resolve(role: str, data: Any, ctx: NotificationContext) -> Iterator[Target]:
    config = ctx.config
    team_id = getattr(data, "to_team", None) or getattr(data, "team", None)
    team = config.team(team_id) if team_id else None
    caseworker = getattr(data, "caseworker", None)
    if role == "caseworker" and caseworker:
        yield Target(caseworker, "email")
    elif role == "mentor" and caseworker:
        person = config.person(caseworker)
        mentor = getattr(data, "mentor", None) or (person.mentor if person else None)
        if mentor:
            yield Target(mentor, "email")
    elif role == "manager" and team is not None:
        yield Target(team.manager.id, "email")
    elif role == "head_of_unit":
        yield Target(config.head_of_unit.id, "email")
    elif role == "intake":
        yield from (Target(p.id, "email") for p in config.intake_group)
    elif role == "out_of_hours" and config.out_of_hours and _acute_out_of_hours(data, ctx):
        yield Target(config.out_of_hours.id, "email")
    elif role == "team" and team is not None and team.teams_webhook:
        yield Target(team.id, "teams")


def _acute_out_of_hours(data: Any, ctx: NotificationContext) -> bool:
    return bool(getattr(data, "acute_danger", False)) and not ctx.office_time(ctx.clock.now())


def _team_name(ctx: NotificationContext, team_id: str) -> str:
    team = ctx.config.team(team_id)
    return team.name if team else team_id


def _person_name(ctx: NotificationContext, staff_id: str) -> str:
    person = ctx.config.person(staff_id)
    return person.name if person else staff_id
