"""Threats and violence against staff (issue 22): recording an incident, who sees which, and the
quarterly summary for occupational health.

An incident is codes and ids only: when, what (threat, violence, harassment), how (the channel),
the recorder's team, the recorder and optionally the referral it concerns. There is no free-text
field, so no client's name can be typed in. The summary counts by type, team and channel and
carries no staff id, referral id or name. Pure rules; storage is the use case's
(`handlers/incidents.py`).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.assignment.domain.access import Actor, Organisation
from services.assignment.domain.errors import InvalidIncident, InvalidQuarter, NotPermitted

TYPES = ("threat", "violence", "harassment")
NO_TEAM = "no_team"  # the summary's key for incidents recorded by intake or the head of unit
_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")
FIRST_YEAR, LAST_YEAR = 2000, 2100


@dataclass(frozen=True)
class Incident:
    """A recorded incident: codes and ids, no description."""

    incident_id: uuid.UUID
    occurred_on: date
    type: str
    channel: str
    team: str | None
    recorded_by: str
    referral_id: str | None
    recorded_at: datetime


def year_before(day: date) -> date:
    """The same calendar day a year earlier (28 February for 29 February)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def check_occurred_on(occurred_on: date, today: date) -> None:
    """InvalidIncident unless the day lies between a year before `today` and `today`."""
    if occurred_on > today:
        raise InvalidIncident("`occurred_on` lies in the future")
    if occurred_on < year_before(today):
        raise InvalidIncident("`occurred_on` lies more than a year back")


def recorders_team(staff_id: str, org: Organisation) -> str | None:
    """The team an incident is counted for: the recorder's own (a caseworker's, or the team they
    manage); None for intake and the head of unit."""
    if staff_id in org.teams:
        return org.teams[staff_id]
    return next((team for team, manager in sorted(org.managers.items()) if manager == staff_id), None)


def new_incident(
    incident_id: uuid.UUID,
    occurred_on: date,
    kind: str,
    channel: str,
    referral_id: str | None,
    recorder: str,
    org: Organisation,
    now: datetime,
    today: date,
) -> Incident:
    """The incident as it is stored; InvalidIncident for a day out of range."""
    check_occurred_on(occurred_on, today)
    team = recorders_team(recorder, org)
    return Incident(incident_id, occurred_on, kind, channel, team, recorder, referral_id, now)


@dataclass(frozen=True)
class Scope:
    """Which incidents a caller sees: every team's (`teams` None), some teams', and always the
    ones they recorded themselves."""

    recorder: str
    teams: frozenset[str | None] | None

    def shows(self, incident: Incident) -> bool:
        """Whether the incident is in the scope."""
        if incident.recorded_by == self.recorder:
            return True
        return self.teams is None or incident.team in self.teams


def managed_teams(actor: Actor, org: Organisation) -> frozenset[str]:
    """The teams the actor manages (only with the manager role)."""
    if "manager" not in actor.roles:
        return frozenset()
    return frozenset(team for team, manager in org.managers.items() if manager == actor.staff_id)


def is_head(actor: Actor, org: Organisation) -> bool:
    """Whether the actor is the unit's head of unit, with the role."""
    return "head_of_unit" in actor.roles and actor.staff_id == org.head_of_unit


def list_scope(actor: Actor, org: Organisation, team: str | None) -> Scope:
    """What `GET /v1/incidents` shows the actor: the head of unit every team's (or `team`'s),
    a manager their team's, anyone their own records. A team the actor may not see: NotPermitted."""
    if is_head(actor, org):
        return Scope(actor.staff_id, None if team is None else frozenset({team}))
    managed = managed_teams(actor, org)
    if team is not None and team not in managed:
        raise NotPermitted("listing a team's incidents", "the team's manager, the head of unit")
    chosen: frozenset[str | None] = frozenset({team} if team is not None else managed)
    return Scope(actor.staff_id, chosen)


def summary_teams(actor: Actor, org: Organisation, team: str | None) -> frozenset[str | None] | None:
    """Whose incidents the actor's summary counts: the head of unit every team's (or `team`'s),
    a manager their own team's; NotPermitted for anyone else or another team."""
    if is_head(actor, org):
        return None if team is None else frozenset({team})
    managed = managed_teams(actor, org)
    if not managed or (team is not None and team not in managed):
        raise NotPermitted("the incident summary", "a team's manager (their team), the head of unit")
    return frozenset({team} if team is not None else managed)


@dataclass(frozen=True)
class Quarter:
    """A calendar quarter: `2026Q3` is 1 July to 30 September 2026."""

    year: int
    number: int

    @property
    def first_day(self) -> date:
        """Its first day."""
        return date(self.year, 3 * self.number - 2, 1)

    @property
    def last_day(self) -> date:
        """Its last day."""
        if self.number == 4:
            return date(self.year, 12, 31)
        return date(self.year, 3 * self.number + 1, 1) - timedelta(days=1)

    def __str__(self) -> str:
        return f"{self.year}Q{self.number}"


def parse_quarter(text: str) -> Quarter:
    """`2026Q1` … `2026Q4` as a Quarter; InvalidQuarter for anything else."""
    match = _QUARTER.fullmatch(text)
    if match is None:
        raise InvalidQuarter(f"`quarter` must be a year and a quarter such as 2026Q3, not {text[:20]!r}")
    year = int(match.group(1))
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidQuarter(f"`quarter` must lie between {FIRST_YEAR} and {LAST_YEAR}")
    return Quarter(year, int(match.group(2)))


@dataclass(frozen=True)
class Summary:
    """Counts of a quarter's incidents: no names, no staff ids, no referral ids."""

    quarter: Quarter
    total: int
    by_type: dict[str, int]
    by_team: dict[str, dict[str, int]]
    by_channel: dict[str, int]


def summarize(
    incidents: Iterable[Incident], quarter: Quarter, teams: frozenset[str | None] | None = None
) -> Summary:
    """The quarter's incidents (by the day they occurred) of `teams` (None: all) counted by type,
    by team and type, and by channel; keys sorted, every type present in `by_type`."""
    counted = [
        i
        for i in incidents
        if quarter.first_day <= i.occurred_on <= quarter.last_day and (teams is None or i.team in teams)
    ]
    by_type = Counter(i.type for i in counted)
    by_team: dict[str, Counter[str]] = {}
    for i in counted:
        by_team.setdefault(i.team or NO_TEAM, Counter())[i.type] += 1
    return Summary(
        quarter,
        len(counted),
        {t: by_type[t] for t in TYPES},
        {team: dict(sorted(c.items())) for team, c in sorted(by_team.items())},
        dict(sorted(Counter(i.channel for i in counted).items())),
    )


def summary_markdown(summary: Summary, *, swedish: bool = False) -> str:
    """The summary as a Markdown table: one row per team, a column per type, and the totals;
    then the counts by channel."""
    head = ("Team", "Hot", "Våld", "Trakasserier", "Totalt") if swedish else (
        "Team", "Threat", "Violence", "Harassment", "Total"
    )  # fmt: skip
    lines = [f"# {'Hot och våld' if swedish else 'Threats and violence'} {summary.quarter}", ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for team, counts in summary.by_team.items():
        cells = [str(counts.get(t, 0)) for t in TYPES]
        lines.append(f"| {team} | " + " | ".join(cells) + f" | {sum(counts.values())} |")
    totals = [str(summary.by_type[t]) for t in TYPES]
    lines.append(f"| {'Alla' if swedish else 'All'} | " + " | ".join(totals) + f" | {summary.total} |")
    lines += ["", f"| {'Kanal' if swedish else 'Channel'} | {'Antal' if swedish else 'Count'} |", "|---|---|"]
    lines += [f"| {channel} | {n} |" for channel, n in summary.by_channel.items()]
    return "\n".join(lines) + "\n"


def summary_csv_rows(summary: Summary) -> list[list[str]]:
    """The summary as CSV rows: `team,type,count` for each team and type, then totals."""
    rows = [["quarter", "team", "type", "count"]]
    for team, counts in summary.by_team.items():
        rows += [[str(summary.quarter), team, t, str(counts.get(t, 0))] for t in TYPES]
    rows += [[str(summary.quarter), "all", t, str(summary.by_type[t])] for t in TYPES]
    return rows
