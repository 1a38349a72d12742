"""Projections: events folded into read models, in the consumer's transaction."""

from __future__ import annotations

from typing import Any

from services.metrics.domain import reporter_group
from shared.db import Conn
from shared.events import Envelope, ReferralAssigned, ReferralReceived


async def project_received(conn: Conn, event: Envelope[Any]) -> None:
    """Count a received referral once."""
    data: ReferralReceived = event.data
    await conn.execute(
        "INSERT INTO received (referral_id, kind, channel, reporter_group, acute, received_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        data.referral_id,
        data.kind,
        data.channel,
        reporter_group(data.reporter_type, data.reporter_mandatory),
        data.acute_danger,
        data.received_at,
    )


async def project_assigned(conn: Conn, event: Envelope[Any]) -> None:
    """Record an assignment once; time to assign is measured from the legal receipt time."""
    data: ReferralAssigned = event.data
    seconds = max(0.0, (event.occurred_at - data.received_at).total_seconds())
    await conn.execute(
        "INSERT INTO assigned (referral_id, team, caseworker, reason, received_at, assigned_at,"
        " assignment_seconds) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        data.referral_id,
        data.team,
        data.caseworker,
        data.reason,
        data.received_at,
        event.occurred_at,
        seconds,
    )
