"""The unit as notifications needs it: who is who, the routes, office hours, language, links.

Translated once from the validated unit config at the composition root; the rules below never
see the config file's models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import quote

from services.notifications.domain.office import OfficeHours


@dataclass(frozen=True)
class StaffMember:
    """Someone who can be told: their staff id, name (for the greeting), email and mentor, and a
    Teams webhook of their own (a secret) if the unit gives them one."""

    id: str
    name: str
    email: str
    mentor: str | None = None
    webhook: str | None = None


@dataclass(frozen=True)
class Team:
    """A team: its name, its manager's staff id and its Teams channel webhook (a secret)."""

    id: str
    name: str
    manager: str
    webhook: str | None = None


@dataclass(frozen=True)
class Unit:
    """Everything the notification rules read about the unit."""

    people: Mapping[str, StaffMember]
    teams: Mapping[str, Team]
    head_of_unit: str
    office: OfficeHours
    intake: tuple[str, ...] = ()
    out_of_hours: str | None = None
    # Event type → the roles told about it (`caseworker`, `mentor`, `manager`, `head_of_unit`,
    # `intake`, `out_of_hours`, `team`).
    routes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    base_url: str = "http://127.0.0.1:8082"
    language: str = "sv"
    quiet_hours: bool = False
    escalate_after: timedelta = timedelta(minutes=30)
    # A link to one referral, with `{referral_id}` where its reference goes; None: under base_url.
    referral_url: str | None = None
    # Issue 22: the occupational-health contact's staff id, meeting slot titles by slot id, and
    # the IANA name of the unit's time zone (written into calendar invitations).
    occupational_health: str | None = None
    slot_titles: Mapping[str, str] = field(default_factory=dict)
    tzid: str = "Europe/Stockholm"

    def person(self, staff_id: str) -> StaffMember | None:
        """The staff member with this id, if any."""
        return self.people.get(staff_id)

    def team(self, team_id: str) -> Team | None:
        """The team with this id, if any."""
        return self.teams.get(team_id)

    def team_name(self, team_id: str) -> str:
        """The team's name as staff read it (its id if the unit has no such team)."""
        team = self.teams.get(team_id)
        return team.name if team else team_id

    def person_name(self, staff_id: str) -> str:
        """The person's name as staff read it (the id if the unit has no such person)."""
        person = self.people.get(staff_id)
        return person.name if person else staff_id

    def link(self, referral_id: str | None) -> str:
        """A link into the staff system, never carrying anything but the opaque reference."""
        if referral_id and self.referral_url:
            return self.referral_url.format(referral_id=quote(referral_id, safe=""))
        base = self.base_url.rstrip("/")
        return f"{base}/v1/referrals/{quote(referral_id, safe='')}" if referral_id else base

    def referral_link(self, referral_id: str) -> str | None:
        """The configured link to one referral, or None when the unit has no referral URL template."""
        return self.link(referral_id) if self.referral_url else None
