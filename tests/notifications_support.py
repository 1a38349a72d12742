"""Helpers for notifications tests (no tests here): the unit, events, stores and a courier."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from services.notifications.domain.delivery import RetryBudget
from services.notifications.domain.outgoing import ClaimedDelivery
from services.notifications.domain.routing import NewDelivery
from services.notifications.domain.unit import Unit
from services.notifications.handlers.events import record_events
from services.notifications.handlers.sending import Courier, SendingPolicy
from services.notifications.main import notification_unit
from services.notifications.ports import DeliveryLedger, NotificationsUnitOfWork, Sender
from services.notifications.subscribers import inputs
from shared.clock import Clock, SystemClock
from shared.events import (
    AccessReview,
    BreakGlassUsed,
    DeadlineEvent,
    Deadlines,
    Envelope,
    ReferralAssigned,
    ReferralReceived,
    ReferralUpdated,
    ReviewFinding,
    new_envelope,
)
from shared.unit_config import UnitConfig

REPO = Path(__file__).resolve().parents[1]
TZ = ZoneInfo("Europe/Stockholm")
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
FRIDAY_18 = datetime(2026, 11, 20, 18, 0, tzinfo=TZ)
MONDAY_08 = datetime(2026, 11, 23, 8, 0, tzinfo=TZ)
LEASE = timedelta(seconds=60)
BUDGET = RetryBudget()


def unit_config(**notifications: Any) -> UnitConfig:
    """The example unit with quiet hours on and escalation after 30 minutes (and `notifications`)."""
    raw = yaml.safe_load((REPO / "deploy/config/unit.example.yaml").read_text("utf-8"))
    raw["notifications"] = {
        "quiet_hours": {"enabled": True},
        "escalation": {"after": "PT30M"},
    } | notifications
    return UnitConfig.model_validate(raw)


def example_unit(**notifications: Any) -> Unit:
    """`unit_config()` as the notification rules see it."""
    return notification_unit(unit_config(**notifications))


def new_delivery(
    recipient: str,
    *,
    channel: str = "email",
    at: datetime | None = None,
    held: bool = False,
    subject: str = "Nytt ärende",
    source: uuid.UUID | None = None,
) -> NewDelivery:
    """A delivery of a `referral.assigned` to one recipient, due at `at` (now by default)."""
    return NewDelivery(
        source or uuid.uuid4(), recipient, channel, "referral.assigned", f"R-{recipient}", "f-1", subject,
        "text" if channel == "email" else "", not_before=at or SystemClock().now(), held=held,
        card='{"type": "message"}' if channel == "teams" else None,
    )  # fmt: skip


async def add(unit_of_work: Callable[[], NotificationsUnitOfWork], *deliveries: NewDelivery) -> None:
    """Create deliveries (and a Teams recipient's slot), committed."""
    async with unit_of_work() as uow:
        await uow.deliveries.add(deliveries)
        await uow.webhook_slots.open(sorted({d.recipient for d in deliveries if d.channel == "teams"}))
        await uow.commit()


async def claimed(
    unit_of_work: Callable[[], NotificationsUnitOfWork],
    ledger: DeliveryLedger,
    people: Sequence[str],
    lease: timedelta = LEASE,
) -> list[ClaimedDelivery]:
    """New email deliveries to `people`, claimed, ordered by recipient."""
    await add(unit_of_work, *(new_delivery(p) for p in people))
    found = await ledger.claim_email(SystemClock().now(), 10, lease)
    assert len(found) == len(people)
    return sorted(found, key=lambda d: d.recipient)


async def in_unit_of_work(
    unit_of_work: Callable[[], NotificationsUnitOfWork], work: Callable[[Any], Any]
) -> Any:
    """Run `work(uow)` in a new unit of work and commit it; its result."""
    async with unit_of_work() as uow:
        result = await work(uow)
        await uow.commit()
    return result


async def consume(
    unit_of_work: Callable[[], NotificationsUnitOfWork],
    events: Sequence[Envelope[Any]],
    unit: Unit,
    clock: Clock,
) -> None:
    """The consumer's use case for events (of any topics, in order) in one committed unit of work."""
    async with unit_of_work() as uow:
        await record_events(uow, inputs(events), unit, clock)
        await uow.commit()


def courier(
    ledger: DeliveryLedger,
    unit_of_work: Callable[[], NotificationsUnitOfWork],
    senders: Mapping[str, Sender],
    unit: Unit,
    clock: Clock | None = None,
    **policy: Any,
) -> Courier:
    """The sending use cases over these stores, with a fixed jitter (half the backoff's range)."""
    return Courier(
        ledger,
        unit_of_work,
        senders,
        unit,
        clock or SystemClock(),
        SendingPolicy(**policy),
        jitter=lambda: 0.5,
    )


def assigned(referral_id: str, at: datetime, *, acute: bool, caseworker: str = "cw-b2") -> Envelope[Any]:
    """`referral.assigned` to team-b, with a protection assessment due seven hours later."""
    data = ReferralAssigned(
        referral_id=referral_id, family_key=f"f-{referral_id}", team="team-b", caseworker=caseworker,
        reason="rotation", explanation="team team-b on duty", acute_danger=acute, received_at=at,
        deadlines=Deadlines(protection_assessment_due=at + timedelta(hours=7)),
    )  # fmt: skip
    return new_envelope(
        "referral.assigned", data, producer="assignment", correlation_id=referral_id, occurred_at=at
    )


def acknowledged(referral_id: str, at: datetime) -> Envelope[Any]:
    """`referral.acknowledged`."""
    data = ReferralUpdated(
        referral_id=referral_id, family_key=f"f-{referral_id}", status="acknowledged", at=at
    )
    return new_envelope("referral.acknowledged", data, producer="assignment", correlation_id=referral_id)


def received(referral_id: str, at: datetime, *, acute: bool) -> Envelope[Any]:
    """`referral.received`."""
    data = ReferralReceived(
        referral_id=referral_id, submission_id=f"s-{referral_id}", kind="report", channel="e_service",
        received_at=at, reporter_type="school", reporter_mandatory=True, feedback_requested=False,
        categories=("neglect",), acute_danger=acute, protected_identity=False, child_key=f"c-{referral_id}",
        family_key=f"f-{referral_id}",
    )  # fmt: skip
    return new_envelope("referral.received", data, producer="intake", correlation_id=referral_id)


def breached(referral_id: str, at: datetime) -> Envelope[Any]:
    """`deadline.breached` of the protection assessment, for cw-b2 in team-b."""
    data = DeadlineEvent(
        referral_id=referral_id, family_key=f"f-{referral_id}", deadline="protection_assessment",
        due_at=at, team="team-b", caseworker="cw-b2",
    )  # fmt: skip
    return new_envelope("deadline.breached", data, producer="assignment", correlation_id=referral_id)


def utc(at: datetime) -> datetime:
    """The same instant in UTC (what the service's clock tells)."""
    return at.astimezone(UTC)


def break_glass(
    referral_id: str, at: datetime, *, team: str | None = "team-b", staff: str = "cw-a1"
) -> Envelope[Any]:
    """`access.break_glass`: `staff` opened a referral of `team` for eight hours."""
    data = BreakGlassUsed(
        referral_id=referral_id, family_key=f"f-{referral_id}", team=team, staff=staff, at=at,
        expires_at=at + timedelta(hours=8),
    )  # fmt: skip
    return new_envelope("access.break_glass", data, producer="intake", correlation_id=referral_id)


Found = tuple[str, str, int, tuple[str, ...]]


def review(month: str, entries: int, *findings: Found, anchor: tuple[int, str] | None = None) -> Envelope:
    """`access.review` for the head of unit, with findings as (kind, staff, count, referral ids) and
    the log's newest row and hash if given."""
    data = AccessReview(
        month=month, head_of_unit="head", entries=entries,
        findings=tuple(ReviewFinding(kind=k, staff=s, count=n, referral_ids=r) for k, s, n, r in findings),
        chain_seq=None if anchor is None else anchor[0], chain_hash=None if anchor is None else anchor[1],
    )  # fmt: skip
    return new_envelope("access.review", data, producer="intake", correlation_id=f"review-{month}")


def registration_due(referral_id: str, due: datetime, *, breached: bool) -> Envelope[Any]:
    """`deadline.approaching` / `.breached` of the registration in the system of record (team-b)."""
    data = DeadlineEvent(
        referral_id=referral_id, family_key=f"f-{referral_id}", deadline="registration", due_at=due,
        team="team-b", caseworker=None, lead_seconds=None if breached else 3600,
    )  # fmt: skip
    kind = "deadline.breached" if breached else "deadline.approaching"
    return new_envelope(kind, data, producer="assignment", correlation_id=referral_id)
