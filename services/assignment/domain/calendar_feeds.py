"""Calendar subscription links: per-user feed tokens and when one may be used or revoked.

A feed token is a random secret in the URL of a calendar subscription (Outlook cannot send a
bearer header). Only its SHA-256 hash is stored, so a copy of the table opens no feed. A feed
answers while it is neither revoked nor expired and its owner is still in the unit file.
Pure rules; the token itself is drawn by the use case (`handlers/calendar_feeds.py`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.assignment.domain.access import Actor

FEED_LIFETIME = timedelta(days=365)
TOKEN_BYTES = 32
# `secrets.token_urlsafe(32)`: 43 characters of the URL-safe base64 alphabet, no padding.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
REVOKERS = frozenset({"manager", "head_of_unit"})


@dataclass(frozen=True)
class CalendarFeed:
    """A stored feed, without its secret."""

    id: int
    staff_id: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


def token_hash(token: str) -> str:
    """The stored form of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def well_formed(token: str) -> bool:
    """Whether `token` has the shape of a token we hand out (anything else is looked up never)."""
    return _TOKEN_SHAPE.fullmatch(token) is not None


def expiry(created_at: datetime) -> datetime:
    """When a feed created at `created_at` stops answering."""
    return created_at + FEED_LIFETIME


def usable(feed: CalendarFeed, people: frozenset[str], now: datetime) -> bool:
    """Whether the feed answers at `now`: not revoked, not expired, its owner still in the unit."""
    return feed.revoked_at is None and now < feed.expires_at and feed.staff_id in people


def active(feed: CalendarFeed, now: datetime) -> bool:
    """Whether the feed is still live at `now` (as its owner's list shows it)."""
    return feed.revoked_at is None and now < feed.expires_at


def may_revoke(feed: CalendarFeed, actor: Actor) -> bool:
    """Its owner may revoke a feed, and so may a manager or the head of unit (a lost laptop)."""
    return feed.staff_id == actor.staff_id or bool(actor.roles & REVOKERS)
