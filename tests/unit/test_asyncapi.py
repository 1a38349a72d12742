"""docs/asyncapi.yaml: valid AsyncAPI 2.6.0 by the official JSON Schema (vendored from npm
`@asyncapi/specs`, tests/fixtures/asyncapi/README.md), generated from the wire models and up to
date, naming every topic the code uses and every event type, and real events fit its payloads."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from referral_router import docs_asyncapi
from shared.events import (
    ALL_TOPICS,
    EVENT_TYPES,
    DeadLetter,
    NotificationOutcome,
    RotationHandover,
    encode_event,
    new_envelope,
)
from tests.metrics_sequence import SEQUENCE

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "tests" / "fixtures" / "asyncapi" / "asyncapi-2.6.0.schema.json").read_text())
DOCUMENT: dict[str, Any] = yaml.safe_load((REPO / "docs" / "asyncapi.yaml").read_text())
# A topic name as the code writes one: dotted lower-case words ending in a version.
TOPIC_LITERAL = re.compile(r"""["']([a-z_]+(?:\.[a-z_]+)*\.v[0-9]+)["']""")


def test_the_document_is_valid_asyncapi_by_the_official_schema():
    jsonschema.Draft7Validator(SCHEMA).validate(DOCUMENT)


def test_the_official_schema_catches_a_broken_document():
    broken = {**DOCUMENT, "channels": {"rotation.v1": {"subscribe": {"message": {"payload": 3}}}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(SCHEMA).validate(broken)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(SCHEMA).validate({k: v for k, v in DOCUMENT.items() if k != "info"})


def test_the_document_is_what_the_wire_models_generate():
    assert docs_asyncapi.rendered() == (REPO / "docs" / "asyncapi.yaml").read_text(), (
        "run: python -m referral_router.docs_asyncapi"
    )


def topics_in_the_code() -> set[str]:
    found = set()
    for folder in ("services", "shared", "referral_router"):
        for path in (REPO / folder).rglob("*.py"):
            found |= set(TOPIC_LITERAL.findall(path.read_text()))
    return found


def test_every_topic_in_the_code_is_a_channel():
    in_code = topics_in_the_code()
    assert set(ALL_TOPICS) <= in_code  # the scan sees the constants themselves
    assert in_code <= set(DOCUMENT["channels"]), sorted(in_code - set(DOCUMENT["channels"]))
    assert set(DOCUMENT["channels"]) == set(ALL_TOPICS)


def test_every_event_type_is_a_message_of_its_topics_channel():
    for event_type, (topic, _) in EVENT_TYPES.items():
        assert event_type in DOCUMENT["components"]["messages"], event_type
        message = DOCUMENT["channels"][topic]["subscribe"]["message"]
        refs = [m["$ref"] for m in message.get("oneOf", [message])]
        assert f"#/components/messages/{event_type}" in refs, (event_type, topic)


def payload_validator(event_type: str) -> jsonschema.Draft7Validator:
    """A validator of one message's payload, its references resolved inside the document."""
    registry: Registry[Any] = Registry().with_resource("urn:asyncapi", Resource(DOCUMENT, DRAFT7))
    schema = {"$ref": f"urn:asyncapi#/components/messages/{event_type}/payload"}
    return jsonschema.Draft7Validator(schema, registry=registry)


NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
MORE = [
    new_envelope("rotation.on_duty", RotationHandover(from_team="team-a", to_team="team-b", at=NOW),
                 producer="assignment", correlation_id="rotation"),
    new_envelope("notification.failed", NotificationOutcome(
        source_event_id=uuid.uuid4(), family_key="f-1", channel="teams", recipient="team-a", attempts=8,
    ), producer="notifications", correlation_id="x"),
    new_envelope("deadletter", DeadLetter(topic="rotation.v1", partition=0, offset=7, consumer="metrics",
                                          error="ContractViolation"), producer="metrics", correlation_id="x"),
]  # fmt: skip


@pytest.mark.parametrize("envelope", [e for _, e in SEQUENCE] + MORE, ids=lambda e: e.event_type)
def test_real_events_fit_their_messages_payload(envelope):
    value = json.loads(encode_event(envelope))
    payload_validator(envelope.event_type).validate(value)


def test_a_payload_with_an_unknown_field_or_the_wrong_event_type_does_not_fit():
    value = json.loads(encode_event(MORE[0]))
    with pytest.raises(jsonschema.ValidationError):
        payload_validator("rotation.on_duty").validate({**value, "data": {**value["data"], "name": "x"}})
    with pytest.raises(jsonschema.ValidationError):
        payload_validator("rotation.handover").validate(value)
