"""Structured JSON logs with a redaction filter: the second line of defence for personal data.

The first line is that code never logs personal details. This filter masks anything shaped like
a Swedish personal identity number, a phone number or an email address in the message and in
every extra field, in case something slips through.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Hashable
from datetime import UTC, datetime
from typing import Any

_PATTERNS = (
    # Personal identity / coordination numbers: 10 or 12 digits, optional - or + before the last 4.
    re.compile(r"(?<!\d)(?:\d{2})?\d{6}[-+]?\d{4}(?!\d)"),
    re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"),
    # Phone numbers: +46 or a leading 0, then 6-12 more digits with optional spaces or dashes.
    re.compile(r"(?<![\w\d])(?:\+46|0046|0)[\s\-]?\d(?:[\s\-]?\d){5,11}(?!\d)"),
)
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
MASK = "[redacted]"


def redact(text: str) -> str:
    """Mask every substring shaped like a personal identity number, phone number or email."""
    for pattern in _PATTERNS:
        text = pattern.sub(MASK, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_redact_value(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, service and any extra fields."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as redacted JSON."""
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "service": self._service,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # Only the exception type and traceback frames; exception messages may echo input.
            entry["exc_type"] = record.exc_info[0].__name__
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(_redact_value(entry), ensure_ascii=False, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every logger's output to stdout as redacted JSON lines."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "uvicorn.access"):
        logging.getLogger(noisy).setLevel("WARNING")


class Throttle:
    """At most one log line per key every `interval_s`: a failing loop must not flood the logs."""

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._next: dict[Hashable, float] = {}
        self._suppressed: dict[Hashable, int] = {}

    def allows(self, key: Hashable) -> bool:
        """Whether a line for `key` may be written now; counts the ones that may not."""
        now = time.monotonic()
        if now >= self._next.get(key, 0.0):
            self._next[key] = now + self._interval_s
            return True
        self._suppressed[key] = self._suppressed.get(key, 0) + 1
        return False

    def suppressed(self, key: Hashable) -> int:
        """How many lines for `key` were left out since the last one written (and reset)."""
        return self._suppressed.pop(key, 0)
