import json
import uuid
from datetime import UTC, datetime

import pytest

from shared.events import (
    EVENT_TYPES,
    ContractViolation,
    ReferralReceived,
    RotationHandover,
    encode_event,
    event_key,
    new_envelope,
    parse_event,
)

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def received(**overrides: object) -> ReferralReceived:
    fields: dict[str, object] = {
        "referral_id": "R-7Q2K9M3XH4TB",
        "submission_id": "oep-1",
        "kind": "report",
        "channel": "e_service",
        "received_at": NOW,
        "reporter_type": "school",
        "reporter_mandatory": True,
        "feedback_requested": False,
        "categories": ("neglect",),
        "acute_danger": False,
        "protected_identity": False,
        "child_key": "c1234",
        "family_key": "f5678",
    }
    fields.update(overrides)
    return ReferralReceived.model_validate(fields)


def test_an_event_survives_the_round_trip_and_is_keyed_by_its_family():
    envelope = new_envelope("referral.received", received(), producer="intake", correlation_id="oep-1")
    raw = encode_event(envelope)
    assert parse_event(raw, topic="referrals.received.v1") == envelope
    assert event_key(envelope) == b"f5678"
    assert json.loads(raw)["event_version"] == 1


def test_every_event_type_has_a_topic_and_a_model():
    assert {topic for topic, _ in EVENT_TYPES.values()} >= {
        "referrals.received.v1",
        "referrals.assigned.v1",
        "referrals.updated.v1",
        "deadlines.v1",
        "rotation.v1",
        "notifications.v1",
        "deadletter.v1",
    }


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[1, 2]", b'{"event_type": "referral.exploded"}', b'{"event_type": "referral.received"}'],
)
def test_malformed_messages_are_contract_violations(raw):
    with pytest.raises(ContractViolation):
        parse_event(raw)


def test_unknown_fields_in_data_are_rejected_so_free_text_cannot_ride_along():
    envelope = new_envelope("referral.received", received(), producer="intake", correlation_id="x")
    body = json.loads(encode_event(envelope))
    body["data"]["child_name"] = "Alva Testsson"
    with pytest.raises(ContractViolation, match="child_name"):
        parse_event(json.dumps(body).encode())


def test_a_violation_message_never_echoes_the_offending_value():
    envelope = new_envelope("referral.received", received(), producer="intake", correlation_id="x")
    body = json.loads(encode_event(envelope))
    body["data"]["child_key"] = "Alva Testsson 201507129985"
    with pytest.raises(ContractViolation) as caught:
        parse_event(json.dumps(body).encode())
    assert "Alva" not in str(caught.value) and "2015" not in str(caught.value)


def test_an_event_on_the_wrong_topic_is_a_violation():
    envelope = new_envelope(
        "rotation.handover",
        RotationHandover(from_team="team-a", to_team="team-b", at=NOW),
        producer="assignment",
        correlation_id="x",
    )
    with pytest.raises(ContractViolation, match="topic"):
        parse_event(encode_event(envelope), topic="referrals.received.v1")


def test_new_envelope_refuses_data_of_the_wrong_type():
    with pytest.raises(TypeError):
        new_envelope("referral.assigned", received(), producer="x", correlation_id="x")


def test_envelopes_get_distinct_event_ids():
    a = new_envelope("referral.received", received(), producer="intake", correlation_id="x")
    b = new_envelope("referral.received", received(), producer="intake", correlation_id="x")
    assert a.event_id != b.event_id and isinstance(a.event_id, uuid.UUID)
