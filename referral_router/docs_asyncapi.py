"""Generate docs/asyncapi.yaml, the AsyncAPI 2.6 document of every topic and event type, from the
wire models in shared/events.py.

`python -m referral_router.docs_asyncapi` rewrites the document; `--check` exits 1 when it is out
of date. The pydantic models are the truth for the payloads (`data`) and the envelope; only the
topics' words and who produces and consumes them are written here (docs/ARCHITECTURE.md, Topics).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.events import (
    ALL_TOPICS,
    EVENT_TYPES,
    TOPIC_ACCESS,
    TOPIC_ASSIGNED,
    TOPIC_DEADLETTER,
    TOPIC_DEADLINES,
    TOPIC_FEEDBACK,
    TOPIC_NOTIFICATIONS,
    TOPIC_RECEIVED,
    TOPIC_REGISTERED,
    TOPIC_ROTATION,
    TOPIC_UPDATED,
    TOPIC_WORKPLACE,
    Envelope,
    WireModel,
)

DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "asyncapi.yaml"
REF = "#/components/schemas/{model}"


class Topic(BaseModel):
    """What the document says of a topic beyond its messages."""

    summary: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    key: str


TOPICS: dict[str, Topic] = {
    TOPIC_RECEIVED: Topic(
        summary="A referral was received for one child (portal API or Open ePlatform poller).",
        producers=("intake",), consumers=("assignment", "notifications", "metrics"), key="family_key",
    ),
    TOPIC_ASSIGNED: Topic(
        summary="A referral was assigned to a team and caseworker, or reassigned.",
        producers=("assignment",), consumers=("intake", "notifications", "metrics"), key="family_key",
    ),
    TOPIC_UPDATED: Topic(
        summary="Staff acted on a referral: acknowledged, protection-assessed, decided, extended, closed.",
        producers=("assignment",), consumers=("intake", "notifications", "metrics"), key="family_key",
    ),
    TOPIC_REGISTERED: Topic(
        summary="Intake registered a referral in the system of record.",
        producers=("intake",), consumers=("assignment", "metrics"), key="family_key",
    ),
    TOPIC_ACCESS: Topic(
        summary="Break-the-glass reads and the monthly access-log review.",
        producers=("intake",), consumers=("notifications",), key="family_key, or access-review",
    ),
    TOPIC_FEEDBACK: Topic(
        summary="A mandatory reporter asked for feedback after the report, or was given it "
        "(ids, time, staff id and channel only; who the reporter is stays in intake).",
        producers=("intake",), consumers=("assignment", "metrics"), key="family_key",
    ),
    TOPIC_DEADLINES: Topic(
        summary="A legal deadline is approaching or was breached.",
        producers=("assignment",), consumers=("notifications", "metrics"), key="family_key",
    ),
    TOPIC_ROTATION: Topic(
        summary="The team on duty changed (rotation.handover), or who is on duty was announced at "
        "start (rotation.on_duty, for metrics; nobody is notified).",
        producers=("assignment",), consumers=("notifications", "metrics"), key="rotation",
    ),
    TOPIC_WORKPLACE: Topic(
        summary="The working environment: overload flags raised, escalated and answered; "
        "consultations booked, reminded and cancelled; threats and violence against staff. Staff "
        "ids, teams, times and codes only: notes, topics and descriptions stay in assignment.",
        producers=("assignment",), consumers=("notifications", "metrics"),
        key="staff id, consultation id or incident id",
    ),
    TOPIC_NOTIFICATIONS: Topic(
        summary="What became of one notification delivery (email or Teams).",
        producers=("notifications",), consumers=("metrics",), key="family_key of the source event",
    ),
    TOPIC_DEADLETTER: Topic(
        summary="A message a consumer could not handle: its position and the error, never its payload.",
        producers=("intake", "assignment", "notifications", "metrics"), consumers=(),
        key="deadletter",
    ),
}  # fmt: skip


def _schemas() -> dict[str, Any]:
    """Every event's data model and the envelope, as JSON Schema components."""
    models: list[type[BaseModel]] = sorted({m for _, m in EVENT_TYPES.values()}, key=lambda m: m.__name__)
    _, top = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    schemas: dict[str, Any] = dict(sorted(top["$defs"].items()))
    envelope = Envelope[WireModel].model_json_schema(ref_template=REF)
    envelope.pop("$defs", None)
    envelope["properties"]["data"] = {"type": "object", "description": "The event's data (see each message)."}
    envelope["title"] = "Envelope"
    envelope["description"] = (Envelope.__doc__ or "").strip() + " The message key is `data.family_key`."
    schemas["Envelope"] = envelope
    return schemas


def _message(event_type: str, model: type[WireModel]) -> dict[str, Any]:
    payload = {
        "allOf": [
            {"$ref": REF.format(model="Envelope")},
            {
                "type": "object",
                "properties": {
                    "event_type": {"const": event_type},
                    "data": {"$ref": REF.format(model=model.__name__)},
                },
            },
        ]
    }
    return {
        "name": event_type,
        "title": event_type,
        "summary": (model.__doc__ or "").strip().splitlines()[0],
        "contentType": "application/json",
        "payload": payload,
    }


def _channel(topic: str, info: Topic) -> dict[str, Any]:
    types = [name for name, (on, _) in EVENT_TYPES.items() if on == topic]
    refs = [{"$ref": f"#/components/messages/{name}"} for name in types]
    return {
        "description": (
            f"{info.summary} Produced by {', '.join(info.producers)}; consumed by "
            f"{', '.join(info.consumers) or 'nobody (operators read it)'}. Message key: {info.key}."
            " Every name is prefixed with `KAFKA__TOPIC_PREFIX`."
        ),
        "subscribe": {
            "operationId": "receive_" + topic.replace(".", "_"),
            "summary": f"Events on {topic}.",
            "message": {"oneOf": refs} if len(refs) > 1 else refs[0],
        },
    }


def document() -> dict[str, Any]:
    """The AsyncAPI 2.6.0 document of every topic (shared.events.ALL_TOPICS) and event type."""
    return {
        "asyncapi": "2.6.0",
        "info": {
            "title": "referral-router events",
            "version": "1.0.0",
            "description": (
                "Every Kafka topic of referral-router and the events on it (CONTRACTS.md §4). Each "
                "message value is JSON: the envelope, with the event's fields under `data`; no "
                "personal details in any field. Generated from shared/events.py by "
                "`python -m referral_router.docs_asyncapi`; do not edit by hand."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "url": "{bootstrap}",
                "protocol": "kafka",
                "description": "The unit's Kafka cluster (KAFKA__BOOTSTRAP_SERVERS).",
                "variables": {"bootstrap": {"default": "127.0.0.1:19092"}},
            }
        },
        "channels": {topic: _channel(topic, TOPICS[topic]) for topic in ALL_TOPICS},
        "components": {
            "messages": {name: _message(name, model) for name, (_, model) in EVENT_TYPES.items()},
            "schemas": _schemas(),
        },
    }


def rendered() -> str:
    """The document as YAML, keys in the order written."""
    return yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=100)


def main() -> None:
    """Write docs/asyncapi.yaml, or with --check exit 1 when it differs from the models."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only check that the document is up to date")
    text = rendered()
    if parser.parse_args().check:
        if DOCUMENT.read_text() != text:
            sys.exit("docs/asyncapi.yaml is out of date: run python -m referral_router.docs_asyncapi")
        return
    DOCUMENT.write_text(text)


if __name__ == "__main__":
    main()
