"""In-memory fake of the feedback store (ports.FeedbackStore), part of intake's fake unit of work;
`tests/contract/test_intake_feedback_ports.py` holds it to the Postgres adapter's behaviour."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from services.intake.domain.feedback import Decided, FeedbackRequest, Sending


@dataclass
class FeedbackTables:
    """Decisions, requests and sendings, by referral id."""

    decisions: dict[str, Decided] = field(default_factory=dict)
    requests: dict[str, FeedbackRequest] = field(default_factory=dict)
    sendings: dict[str, Sending] = field(default_factory=dict)


class InMemoryFeedbackStore:
    """The feedback tables of one fake unit of work (a fake has no other writers to wait for)."""

    def __init__(self, tables: FeedbackTables, begin: Callable[[], None]) -> None:
        self._t, self._begin = tables, begin

    async def hold(self, referral_id: str) -> None:
        """Nothing to wait for in a fake."""
        self._begin()

    async def decided(self, decided: Decided) -> None:
        """Keep the first decision."""
        self._begin()
        self._t.decisions.setdefault(decided.referral_id, decided)

    async def decision(self, referral_id: str) -> Decided | None:
        """The stored decision, if any."""
        self._begin()
        return self._t.decisions.get(referral_id)

    async def add_request(self, request: FeedbackRequest, recorded_at: datetime) -> FeedbackRequest:
        """Keep the first request; the stored one."""
        self._begin()
        return self._t.requests.setdefault(request.referral_id, request)

    async def request(self, referral_id: str) -> FeedbackRequest | None:
        """The stored request, if any."""
        self._begin()
        return self._t.requests.get(referral_id)

    async def owe(self, sending: Sending) -> bool:
        """Keep the sending unless the referral has one."""
        self._begin()
        if sending.referral_id in self._t.sendings:
            return False
        self._t.sendings[sending.referral_id] = sending
        return True

    async def sending(self, referral_id: str) -> Sending | None:
        """The referral's sending, if any."""
        self._begin()
        return self._t.sendings.get(referral_id)

    async def claim_due(self, now: datetime, limit: int) -> list[Sending]:
        """Pending sendings due by `now`, oldest first, moved to `sending`."""
        self._begin()
        due = sorted(
            (s for s in self._t.sendings.values() if s.state == "pending" and s.next_attempt_at <= now),
            key=lambda s: (s.next_attempt_at, s.referral_id),
        )[:limit]
        claimed = [dataclasses.replace(s, state="sending") for s in due]
        self._t.sendings.update((s.referral_id, s) for s in claimed)
        return claimed

    async def save(self, sending: Sending) -> None:
        """The sending as it is now."""
        self._begin()
        self._t.sendings[sending.referral_id] = sending
