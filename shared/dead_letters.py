"""Dead letters: what a consumer publishes instead of a record it can never handle."""

from __future__ import annotations

import traceback
import uuid

from shared.events import TOPIC_DEADLETTER, ContractViolation, DeadLetter, OutboxRow, new_envelope, outbox_row
from shared.records import PoisonMessage, Record


def dead_letter(record: Record, consumer: str, service: str, error: str) -> OutboxRow:
    """The outbox row of a record's dead letter: where it came from and why, never its payload.

    Its event id comes from the record's position, so a redelivered poison record makes the same
    dead letter, not a second one.
    """
    letter = new_envelope(
        "deadletter",
        DeadLetter(topic=record.topic, partition=record.partition, offset=record.offset, consumer=consumer,
                   error=error[:2000]),
        producer=service,
        correlation_id=record.message_id,
    ).model_copy(update={"event_id": uuid.uuid5(uuid.NAMESPACE_URL, record.message_id)})  # fmt: skip
    return outbox_row(TOPIC_DEADLETTER, letter)


def describe(exc: BaseException) -> str:
    """An exception's type and where it was raised, without its message (which may echo input)."""
    if isinstance(exc, PoisonMessage | ContractViolation):
        return str(exc)  # our own words, written without input values
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        last = frames[-1]
        where = f" at {last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name}"
    return f"{type(exc).__name__}{where}"
