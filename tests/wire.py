"""Wire events for tests: valid envelopes with invented opaque ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.events import Envelope, ReferralReceived, new_envelope

RECEIVED_AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def received_event(referral_id: str, family_key: str = "fam1", **data: Any) -> Envelope[ReferralReceived]:
    """A `referral.received` envelope about one invented referral."""
    fields: dict[str, Any] = {
        "referral_id": referral_id,
        "submission_id": "S-1",
        "kind": "report",
        "channel": "e_service",
        "received_at": RECEIVED_AT,
        "reporter_type": "school",
        "reporter_mandatory": True,
        "feedback_requested": False,
        "categories": ("neglect",),
        "acute_danger": False,
        "protected_identity": False,
        "child_key": f"c-{referral_id}",
        "family_key": family_key,
    } | data
    return new_envelope(
        "referral.received", ReferralReceived(**fields), producer="test", correlation_id="S-1"
    )
