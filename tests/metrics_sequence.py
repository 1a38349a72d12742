"""A known sequence of events and the exact domain metrics it gives (no tests here), for the
metrics tests on the fakes and on real infrastructure. Opaque ids only."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families

from shared.events import (
    DeadlineEvent,
    Deadlines,
    NotificationOutcome,
    ReferralAssigned,
    ReferralReceived,
    ReferralUpdated,
    RotationHandover,
    new_envelope,
)

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
NEXT = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


def received(rid: str, reporter: str, mandatory: bool, acute: bool, kind: str = "report"):
    return new_envelope(
        "referral.received",
        ReferralReceived(
            referral_id=rid,
            submission_id=f"s-{rid}",
            kind=kind,
            channel="e_service",
            received_at=T0,
            reporter_type=reporter,
            reporter_mandatory=mandatory,
            feedback_requested=False,
            categories=("neglect",),
            acute_danger=acute,
            protected_identity=False,
            child_key=f"c{rid}",
            family_key=f"f{rid}",
        ),
        producer="test",
        correlation_id=rid,
    )


def assigned(rid: str, team: str, caseworker: str, weight: float, reason: str = "rotation"):
    return new_envelope(
        "referral.reassigned" if reason == "manual" else "referral.assigned",
        ReferralAssigned(
            referral_id=rid,
            family_key=f"f{rid}",
            team=team,
            caseworker=caseworker,
            reason=reason,
            explanation="test",
            received_at=T0,
            weight=weight,
            deadlines=Deadlines(
                protection_assessment_due=T0.replace(hour=16), preliminary_assessment_due=NEXT
            ),
        ),
        producer="test",
        correlation_id=rid,
    )


def updated(event_type: str, rid: str, status: str, **fields):
    return new_envelope(
        event_type,
        ReferralUpdated(
            referral_id=rid, family_key=f"f{rid}", status=status, at=T0.replace(hour=12), **fields
        ),
        producer="test",
        correlation_id=rid,
    )


def deadline(event_type: str, rid: str, name: str, team: str):
    return new_envelope(
        event_type,
        DeadlineEvent(referral_id=rid, family_key=f"f{rid}", deadline=name, due_at=NEXT, team=team),
        producer="test",
        correlation_id=rid,
    )


def outcome(event_type: str, channel: str):
    return new_envelope(
        event_type,
        NotificationOutcome(
            family_key="fx", source_event_id=uuid.uuid4(), channel=channel, recipient="cw-a1", attempts=1
        ),
        producer="test",
        correlation_id="x",
    )


SEQUENCE = [
    ("referrals.received.v1", received("R1", "school", True, False)),
    ("referrals.received.v1", received("R2", "police", True, True)),
    ("referrals.received.v1", received("R3", "private_person", False, False, kind="application")),
    ("referrals.assigned.v1", assigned("R1", "team-a", "cw-a1", 2.0)),
    ("referrals.assigned.v1", assigned("R2", "team-a", "cw-a2", 1.5)),
    ("referrals.assigned.v1", assigned("R3", "team-b", "cw-b1", 1.0)),
    ("referrals.assigned.v1", assigned("R3", "team-b", "cw-b2", 1.0, reason="manual")),
    (
        "referrals.updated.v1",
        updated("referral.protection_assessed", "R1", "protection_assessed", outcome="no_immediate_need"),
    ),
    (
        "referrals.updated.v1",
        updated(
            "referral.decided",
            "R1",
            "investigation",
            decision="open_investigation",
            investigation_due=datetime(2027, 3, 16, 22, 59, tzinfo=UTC),
        ),
    ),
    ("referrals.updated.v1", updated("referral.decided", "R2", "closed", decision="no_investigation")),
    ("deadlines.v1", deadline("deadline.approaching", "R3", "preliminary_assessment", "team-b")),
    ("deadlines.v1", deadline("deadline.breached", "R2", "protection_assessment", "team-a")),
    (
        "rotation.v1",
        new_envelope(
            "rotation.handover",
            RotationHandover(from_team="team-a", to_team="team-b", at=T0, next_handover_at=NEXT),
            producer="test",
            correlation_id="r",
        ),
    ),
    ("notifications.v1", outcome("notification.sent", "email")),
    ("notifications.v1", outcome("notification.unknown", "teams")),
]

EXPECTED = {
    (
        "referrals_received_total",
        (("acute", "false"), ("channel", "e_service"), ("kind", "report"), ("reporter_group", "school")),
    ): 1,
    (
        "referrals_received_total",
        (("acute", "true"), ("channel", "e_service"), ("kind", "report"), ("reporter_group", "police")),
    ): 1,
    (
        "referrals_received_total",
        (
            ("acute", "false"),
            ("channel", "e_service"),
            ("kind", "application"),
            ("reporter_group", "private"),
        ),
    ): 1,
    ("referrals_assigned_total", (("reason", "rotation"), ("team", "team-a"))): 2,
    ("referrals_assigned_total", (("reason", "rotation"), ("team", "team-b"))): 1,
    ("referrals_assigned_total", (("reason", "manual"), ("team", "team-b"))): 1,
    ("referral_assignment_seconds_count", ()): 3,
    ("referrals_open", (("status", "investigation"), ("team", "team-a"))): 1,
    ("referrals_open", (("status", "assigned"), ("team", "team-b"))): 1,
    ("caseload_weighted", (("caseworker", "cw-a1"), ("team", "team-a"))): 2.0,
    ("caseload_weighted", (("caseworker", "cw-a2"), ("team", "team-a"))): 0.0,
    ("caseload_weighted", (("caseworker", "cw-b1"), ("team", "team-b"))): 0.0,
    ("caseload_weighted", (("caseworker", "cw-b2"), ("team", "team-b"))): 1.0,
    # cw-a2 and cw-b1 carry nothing while a colleague carries something: infinitely uneven.
    ("caseload_imbalance_ratio", (("team", "team-a"),)): math.inf,
    ("caseload_imbalance_ratio", (("team", "team-b"),)): math.inf,
    ("deadlines_open", (("deadline", "protection_assessment"), ("state", "ok"))): 1,
    ("deadlines_open", (("deadline", "protection_assessment"), ("state", "breached"))): 1,
    ("deadlines_open", (("deadline", "preliminary_assessment"), ("state", "approaching"))): 1,
    ("deadlines_open", (("deadline", "preliminary_assessment"), ("state", "ok"))): 0,
    ("deadlines_open", (("deadline", "investigation"), ("state", "ok"))): 1,
    ("deadline_breaches_total", (("deadline", "protection_assessment"), ("team", "team-a"))): 1,
    ("rotation_on_duty", (("team", "team-a"),)): 0,
    ("rotation_on_duty", (("team", "team-b"),)): 1,
    ("rotation_on_duty", (("team", "team-c"),)): 0,
    ("rotation_next_handover_timestamp_seconds", ()): NEXT.timestamp(),
    ("notifications_total", (("channel", "email"), ("outcome", "sent"))): 1,
    ("notifications_total", (("channel", "teams"), ("outcome", "unknown"))): 1,
    # Counters start at 0 for every combination, so the first breach or failure is an increase.
    ("deadline_breaches_total", (("deadline", "investigation"), ("team", "team-c"))): 0,
    ("notifications_total", (("channel", "email"), ("outcome", "failed"))): 0,
}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
