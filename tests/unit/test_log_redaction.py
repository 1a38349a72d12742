import io
import json
import logging

import pytest

from shared.logging import JsonFormatter, redact


@pytest.mark.parametrize(
    "secret",
    [
        "201507129985",
        "150712-9985",
        "20150712-9985",
        "070-123 45 67",
        "+46701234567",
        "alva.testsson@example.se",
        "08-123 456 78",
    ],
)
def test_redaction_masks_numbers_phones_and_emails(secret):
    assert secret not in redact(f"value {secret} here")


def test_redaction_keeps_opaque_ids_timestamps_and_counts():
    text = "referral R-7Q2K9M3XH4TB at 2026-11-22T09:00:00Z attempt 3 offset 1042"
    assert redact(text) == text


def test_json_log_lines_are_redacted_in_message_and_extra_fields():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    logger = logging.getLogger("redaction-test")
    logger.addHandler(handler)
    logger.propagate = False
    logger.warning("child 201507129985 reported", extra={"contact": ["alva@example.se"], "n": 3})
    line = json.loads(stream.getvalue())
    assert "201507129985" not in stream.getvalue() and "alva@example.se" not in stream.getvalue()
    assert line["service"] == "test" and line["n"] == 3 and line["level"] == "WARNING"
