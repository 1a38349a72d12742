"""What a consumer handles: records of a fetched batch, the subscriptions that take them, and the
two failures a use case may raise to say what should become of a record."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shared.events import Envelope, WireModel

BatchHandler = Callable[[Any, Sequence[Envelope[Any]]], Awaitable[None]]
"""A use case's edge: the unit of work and a run of new events of one topic, in batch order."""


@dataclass(frozen=True)
class Subscription:
    """A contract topic, the wire model its events carry, and the edge that handles them."""

    topic: str
    model: type[WireModel]
    handler: BatchHandler


@dataclass(frozen=True)
class Record:
    """One Kafka record of a fetched batch (`topic` is the contract topic name)."""

    raw: bytes
    topic: str
    partition: int
    offset: int

    @property
    def message_id(self) -> str:
        """Where it came from; the key of its dead letter."""
        return f"{self.topic}:{self.partition}:{self.offset}"


class PoisonMessage(Exception):
    """A well-formed message the use case can never process; it goes to the dead-letter topic."""


class TransientFailure(Exception):
    """A failure expected to pass (a dependency is down): retry, then leave the offset alone."""
