"""Staff API, work queues (issue 19): `GET /v1/referrals` with filters and a keyset cursor.

What a caller may list is the domain's decision (domain/queues.py): a queue outside their grants
is a 403, a filter naming something the unit lacks or a cursor this API did not give a 422. The
items carry ids, codes, flags and times, never a client detail (`QueueItem` forbids other fields).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from services.assignment.api.bodies import EARLIEST, QueueItem, QueuePageOut
from services.assignment.api.dependencies import Api, Caller
from services.assignment.domain.access import Actor
from services.assignment.domain.errors import InvalidQueueFilter
from services.assignment.domain.lifecycle import STATUSES
from services.assignment.domain.queues import DEFAULT_LIMIT, MAX_LIMIT, QueueFilter
from services.assignment.handlers import queues
from shared.http import problem_responses

router = APIRouter(prefix="/v1", tags=["work queues"])
StaffOrMe = Annotated[str | None, Query(pattern=r"^(me|[a-z][a-z0-9\-]{0,39})$")]
TeamId = Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9\-]{0,39}$")]
Status = Literal["assigned", "acknowledged", "protection_assessed", "investigating", "closed"]
assert set(Status.__args__) == set(STATUSES)  # type: ignore[attr-defined]


@router.get(
    "/referrals",
    response_model=QueuePageOut,
    responses={
        200: {"description": "A page of the queue, most urgent first, and the cursor of the next."},
        **problem_responses(401, 403, 422, 503),
    },
)
async def work_queue(
    api: Api,
    caller: Caller,
    assignee: StaffOrMe = None,
    team: TeamId = None,
    status: Status | None = None,
    deadline: Literal["ok", "approaching", "breached"] | None = None,
    registered: bool | None = None,
    open: bool | None = None,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> QueuePageOut:
    """The caller's work queue: their own (caseworker), every open referral (intake), their
    team's (manager), every referral (head of unit); filters combined with AND (`open=true`:
    only referrals not closed, which pages showing current work want, not the years of history)."""
    filters = QueueFilter(assignee, team, status, deadline, registered, open)
    actor = Actor(caller.sub, caller.roles)
    page = await queues.work_queue(
        api.unit_of_work(), api.unit, actor, filters, decode_cursor(cursor), limit, api.clock.now()
    )
    q = page.query
    return QueuePageOut(
        items=[QueueItem.of(e, q.now, q.reminders) for e in page.entries],
        next_cursor=None if page.after is None else encode_cursor(page.after),
        at=q.now,
    )


def encode_cursor(position: tuple[datetime, str]) -> str:
    """An opaque cursor for the position after which the next page starts."""
    raw = json.dumps([position[0].isoformat(), position[1]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The position a cursor of `encode_cursor` holds; InvalidQueueFilter for anything else."""
    if cursor is None:
        return None
    try:
        due, referral_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        at = datetime.fromisoformat(due)
        # In UTC here, so a forged time at the end of the calendar fails now, not in the driver.
        at = at.astimezone(UTC) if at.tzinfo is not None else at
    except (ValueError, TypeError, OverflowError, binascii.Error) as exc:
        raise InvalidQueueFilter("`cursor` is not one this API gave") from exc
    if at.tzinfo is None or at.year < EARLIEST.year or not isinstance(referral_id, str):
        raise InvalidQueueFilter("`cursor` is not one this API gave")
    return at, referral_id
