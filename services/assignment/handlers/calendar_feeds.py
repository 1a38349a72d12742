"""Use cases of calendar subscription links: create one (the token shown once), list one's
own, revoke, and read the rotation calendar by token (domain/calendar_feeds.py decides)."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import datetime

from services.assignment.domain.access import Actor
from services.assignment.domain.calendar_feeds import (
    TOKEN_BYTES,
    CalendarFeed,
    expiry,
    may_revoke,
    token_hash,
    usable,
    well_formed,
)
from services.assignment.domain.errors import FeedNotFound, NotPermitted
from services.assignment.domain.unit import Unit
from services.assignment.ports import AssignmentUnitOfWork


async def create_feed(uow: AssignmentUnitOfWork, staff_id: str, now: datetime) -> tuple[CalendarFeed, str]:
    """A new feed of `staff_id`'s, and its token: returned here once, never stored."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    async with uow:
        feed = await uow.calendar_feeds.add(staff_id, token_hash(token), now, expiry(now))
        await uow.commit()
    return feed, token


async def own_feeds(uow: AssignmentUnitOfWork, staff_id: str) -> list[CalendarFeed]:
    """The person's feeds, revoked and expired ones too, oldest first."""
    async with uow:
        return await uow.calendar_feeds.of_staff(staff_id)


async def revoke_feed(uow: AssignmentUnitOfWork, feed_id: int, actor: Actor, now: datetime) -> CalendarFeed:
    """Revoke the feed (its owner, a manager, the head of unit); revoking twice keeps the first
    time. Unknown id: FeedNotFound; another's feed for anyone else: NotPermitted."""
    async with uow:
        feed = await uow.calendar_feeds.get(feed_id)
        if feed is None:
            raise FeedNotFound
        if not may_revoke(feed, actor):
            raise NotPermitted("revoking a calendar feed", "its owner, a manager, the head of unit")
        await uow.calendar_feeds.revoke(feed_id, now)
        await uow.commit()
    return feed if feed.revoked_at else dataclasses.replace(feed, revoked_at=now)


async def open_feed(uow: AssignmentUnitOfWork, unit: Unit, token: str, now: datetime) -> CalendarFeed | None:
    """The usable feed `token` opens, its use then recorded; None for a token that is
    malformed, unknown, revoked, expired, or whose owner has left the unit file."""
    if not well_formed(token):
        return None
    async with uow:
        feed = await uow.calendar_feeds.by_hash(token_hash(token))
        if feed is None or not usable(feed, unit.people, now):
            return None
        await uow.calendar_feeds.mark_used(feed.id, now)
        await uow.commit()
    return feed
