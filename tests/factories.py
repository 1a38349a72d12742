"""Synthetic portal submissions for tests (invented names, generated identity numbers)."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

from referral_router.synthetic_data import submission as synthetic_submission


def submission(rng: random.Random | None = None, **kwargs: Any) -> dict[str, Any]:
    """A valid report with a unique submission id."""
    kwargs.setdefault("submission_id", f"test-{uuid.uuid4().hex[:16]}")
    return synthetic_submission(rng or random.Random(), **kwargs)


def encode(body: dict[str, Any]) -> bytes:
    """The raw JSON bytes a portal would send."""
    return json.dumps(body, ensure_ascii=False).encode()
