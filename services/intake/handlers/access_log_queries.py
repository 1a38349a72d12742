"""Reading the access log (`GET /v1/access-log`, CONTRACTS.md §2a): who may, which rows, a page.

The head of unit (the unit file's, with the role) reads every row; a manager (with the role) the
rows of referrals of the teams they manage, which the adapter decides by joining each row's
referral to its team (`AccessLogQuery.teams`); anyone else is refused. Pages follow the chain: the
cursor is the last row's place in it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from services.intake.domain.access_log import LoggedEntry
from services.intake.domain.access_review import SentReview
from services.intake.ports import AccessLogQuery, AccessLogUnitOfWork, ReviewUnitOfWork


class AccessLogRefused(Exception):
    """The reader may not read the access log (neither the head of unit nor a team's manager)."""


@dataclass(frozen=True)
class AccessLogReaders:
    """Who may read the log, from the unit file: the head of unit, and each manager's teams."""

    head_of_unit: str
    teams_of_manager: Mapping[str, frozenset[str]]


@dataclass(frozen=True)
class Reader:
    """The caller: a staff id and the roles the token carried."""

    staff: str
    roles: frozenset[str]


@dataclass(frozen=True)
class AccessLogPage:
    """Rows in chain order, and the seq to continue after (None: no more rows)."""

    rows: list[LoggedEntry]
    next_after: int | None


def visible_teams(readers: AccessLogReaders, reader: Reader) -> frozenset[str] | None:
    """The teams whose referrals' rows the reader sees, None for all; AccessLogRefused otherwise."""
    if "head_of_unit" in reader.roles and reader.staff == readers.head_of_unit:
        return None
    teams = readers.teams_of_manager.get(reader.staff)
    if "manager" in reader.roles and teams:
        return teams
    raise AccessLogRefused(reader.staff)


async def read_access_log(
    unit_of_work: Callable[[], AccessLogUnitOfWork],
    readers: AccessLogReaders,
    reader: Reader,
    query: AccessLogQuery,
) -> AccessLogPage:
    """A page of the rows the reader may see that match `query` (its `teams` is set here)."""
    scoped = replace(query, teams=visible_teams(readers, reader), limit=query.limit + 1)
    async with unit_of_work() as uow:
        rows = await uow.access_log.query(scoped)
    page = rows[: query.limit]
    more = len(rows) > query.limit
    return AccessLogPage(page, page[-1].seq if more else None)


@dataclass(frozen=True)
class ReviewPage:
    """Sent reviews, latest month first, and the month to continue before (None: no more)."""

    reviews: list[SentReview]
    next_before: str | None


async def list_reviews(
    unit_of_work: Callable[[], ReviewUnitOfWork],
    readers: AccessLogReaders,
    reader: Reader,
    before: str | None,
    limit: int,
) -> ReviewPage:
    """The monthly reviews sent (`GET /v1/access-reviews`): the head of unit's only, since the
    review goes to them; a manager, who sees part of the log, is refused (AccessLogRefused)."""
    if visible_teams(readers, reader) is not None:
        raise AccessLogRefused(reader.staff)
    async with unit_of_work() as uow:
        found = await uow.reviews.recent(before, limit + 1)
    page = found[:limit]
    return ReviewPage(page, page[-1].month if len(found) > limit else None)
