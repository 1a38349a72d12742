"""Use case: one page of a work queue (issue 19), for the staff API."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from services.assignment.domain.access import Actor
from services.assignment.domain.errors import NotPermitted
from services.assignment.domain.queues import QueueEntry, QueueFilter, QueueQuery, queue_query
from services.assignment.domain.unit import Unit
from services.assignment.ports import AssignmentUnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueuePage:
    """The entries of a page, the query that chose them (its states are at `query.now`) and the
    position to go on from, or None on the last page."""

    entries: list[QueueEntry]
    query: QueueQuery
    after: tuple[datetime, str] | None


async def work_queue(
    uow: AssignmentUnitOfWork,
    unit: Unit,
    actor: Actor,
    filters: QueueFilter,
    after: tuple[datetime, str] | None,
    limit: int,
    now: datetime,
) -> QueuePage:
    """The caller's queue from `after`: the domain decides what they may see (NotPermitted,
    InvalidQueueFilter), the store reads one entry beyond the page to know whether more follow."""
    try:
        query = queue_query(actor, unit, filters, after, limit, now)
    except NotPermitted:
        # As a refused action is (handlers/cases.py): who asked, and for whose queue.
        log.warning(
            "work queue refused: no grant covers it",
            extra={"staff": actor.staff_id, "assignee": filters.assignee, "team": filters.team},
        )
        raise
    async with uow:
        found = await uow.queues.page(query.with_limit(limit + 1))
    entries = found[:limit]
    return QueuePage(entries, query, entries[-1].key if len(found) > limit else None)
