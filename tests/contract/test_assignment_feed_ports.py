"""Assignment's `CalendarFeedStore` port, run against the in-memory fake and Postgres: feeds
read back by hash, id and owner; a token's hash is stored once; revocation keeps its first
time; use is recorded; nothing without a commit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from services.assignment.domain.calendar_feeds import expiry, token_hash
from tests.assignment_support import T0

H1, H2 = token_hash("one"), token_hash("two")


@pytest.fixture
def uow(assignment_uow: Callable[[], Any]) -> Callable[[], Any]:
    """Assignment units of work on the fake and on Postgres (tests/contract/conftest.py)."""
    return assignment_uow


async def add(uow: Callable[[], Any], staff_id: str, digest: str, commit: bool = True) -> Any:
    async with uow() as u:
        feed = await u.calendar_feeds.add(staff_id, digest, T0, expiry(T0))
        if commit:
            await u.commit()
    return feed


async def test_a_feed_reads_back_by_hash_id_and_owner(uow: Callable[[], Any]) -> None:
    first = await add(uow, "cw-a1", H1)
    second = await add(uow, "cw-a1", H2)
    other = await add(uow, "cw-b1", token_hash("three"))
    async with uow() as u:
        assert await u.calendar_feeds.by_hash(H1) == first
        assert await u.calendar_feeds.by_hash(token_hash("nothing")) is None
        assert await u.calendar_feeds.get(second.id) == second
        assert await u.calendar_feeds.get(10**9) is None
        assert await u.calendar_feeds.of_staff("cw-a1") == [first, second]
        assert await u.calendar_feeds.of_staff("cw-b1") == [other]
    assert (first.staff_id, first.created_at, first.expires_at) == ("cw-a1", T0, T0 + timedelta(days=365))
    assert first.last_used_at is None and first.revoked_at is None and first.id < second.id


async def test_a_tokens_hash_is_stored_once(uow: Callable[[], Any]) -> None:
    await add(uow, "cw-a1", H1)
    with pytest.raises(Exception):  # noqa: B017, PT011 - the fake's ValueError, Postgres's UniqueViolation
        await add(uow, "cw-a2", H1)
    async with uow() as u:
        assert await u.calendar_feeds.of_staff("cw-a2") == []


async def test_revocation_keeps_its_first_time_and_use_is_recorded(uow: Callable[[], Any]) -> None:
    feed = await add(uow, "cw-a1", H1)
    later, latest = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    async with uow() as u:
        await u.calendar_feeds.mark_used(feed.id, later)
        await u.calendar_feeds.revoke(feed.id, later)
        await u.calendar_feeds.revoke(feed.id, latest)
        await u.commit()
    async with uow() as u:
        stored = await u.calendar_feeds.by_hash(H1)
    assert (stored.last_used_at, stored.revoked_at) == (later, later)


async def test_nothing_is_stored_without_a_commit(uow: Callable[[], Any]) -> None:
    await add(uow, "cw-a1", H1, commit=False)
    feed = await add(uow, "cw-a1", H2)
    async with uow() as u:
        await u.calendar_feeds.revoke(feed.id, T0)
    async with uow() as u:
        assert await u.calendar_feeds.by_hash(H1) is None
        assert (await u.calendar_feeds.by_hash(H2)).revoked_at is None
