"""Whether a service's consumer is getting through its records: `/readyz` details and a gauge."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared import metrics


@dataclass
class ConsumerHealth:
    """Whether the consumer is getting through its records, for `/readyz` and the gauge."""

    service: str
    failing_since: datetime | None = None
    consecutive_failures: int = 0
    last_error: str | None = None
    handled_at: datetime | None = field(default=None)

    def succeeded(self) -> None:
        """A batch was committed."""
        self.failing_since, self.consecutive_failures = None, 0
        self.handled_at = datetime.now(UTC)
        metrics.CONSUMER_FAILING.labels(self.service).set(0)

    def failed(self, error: str) -> None:
        """A batch was given up after its retries; its records will be read again."""
        self.failing_since = self.failing_since or datetime.now(UTC)
        self.consecutive_failures += 1
        self.last_error = error
        metrics.CONSUMER_FAILING.labels(self.service).set(1)

    def details(self) -> dict[str, object]:
        """What `/readyz` shows of the consumer."""
        if self.failing_since is None:
            return {"state": "ok", "last_handled_at": self.handled_at and self.handled_at.isoformat()}
        return {
            "state": "failing",
            "failing_since": self.failing_since.isoformat(),
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
        }
