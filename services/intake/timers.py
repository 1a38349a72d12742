"""Intake's background loops: the Open ePlatform poller (a round, `handlers.open_eplatform.poll_round`,
its counters, a pause; an unreachable portal or database fails only the round, the next one
resumes), the monthly access-log review (`handlers.access_review.send_due_review`) and the daily
retention run (`handlers.retention.run_retention`)."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, time

import asyncpg
from prometheus_client import Counter

from services.intake.domain.open_eplatform import retry_delay
from services.intake.handlers.access_review import AccessReviewing, send_due_review
from services.intake.handlers.feedback_sending import FeedbackSending, send_due_feedback
from services.intake.handlers.open_eplatform import OepPolling, PollTally, poll_round
from services.intake.handlers.retention import Retaining, run_retention
from services.intake.ports import PortalUnavailable
from shared.clock import STOCKHOLM, Clock
from shared.db import TRANSIENT_DB_ERRORS

log = logging.getLogger(__name__)
INSTANCES = Counter("intake_oep_instances_total", "Open ePlatform instances by outcome", ["outcome"])
ROUNDS = Counter("intake_oep_poll_rounds_total", "Open ePlatform poll rounds", ["outcome"])
CALLBACKS = Counter("intake_oep_callbacks_total", "Open ePlatform callbacks", ["call", "outcome"])
_TRY_AGAIN_LATER: tuple[type[BaseException], ...] = (PortalUnavailable, *TRANSIENT_DB_ERRORS)
_REVIEW_ERRORS: tuple[type[BaseException], ...] = (*TRANSIENT_DB_ERRORS, asyncpg.PostgresError)


async def poll_open_eplatform(poll: OepPolling, interval_s: float, max_backoff_s: float = 600.0) -> None:
    """Poll until cancelled, a round every `interval_s` seconds; after failed rounds (portal away,
    or answering with something else than asked for) the pause doubles, up to `max_backoff_s`."""
    failed = 0
    while True:
        tally = PollTally()
        try:
            await poll_round(poll, tally)
            ROUNDS.labels("ok").inc()
            failed = 0
        except _TRY_AGAIN_LATER as exc:
            ROUNDS.labels("failed").inc()
            failed += 1
            log.warning(
                "open eplatform poll round failed",
                extra={"error": type(exc).__name__, "detail": str(exc), "failed_in_a_row": failed},
            )
        finally:
            count(tally)
        await asyncio.sleep(retry_delay(interval_s, failed, max_backoff_s))


def count(tally: PollTally) -> None:
    """Add what a round did (also a failed one, up to its failure) to the counters."""
    for outcome, n in tally.instances.items():
        INSTANCES.labels(outcome).inc(n)
    for (call, outcome), n in tally.callbacks.items():
        CALLBACKS.labels(call, outcome).inc(n)


async def review_access_log(reviewing: AccessReviewing, clock: Clock, interval_s: float) -> None:
    """Look every `interval_s` whether a month's access-log review is due, and send it, until
    cancelled. A failed look (database away) is logged and tried at the next interval: the review
    stays due until some instance has sent it."""
    while True:
        try:
            month = await send_due_review(reviewing, clock.now())
            if month is not None:
                log.info("access-log review sent", extra={"month": month})
        except _REVIEW_ERRORS as exc:
            log.warning("access-log review failed, trying again", extra={"error": type(exc).__name__})
        await asyncio.sleep(interval_s)


FEEDBACK = Counter("intake_reporter_feedback_total", "Feedback to reporters by outcome", ["outcome"])


async def send_reporter_feedback(sending: FeedbackSending, clock: Clock, interval_s: float) -> None:
    """Send the feedback owed by email every `interval_s`, until cancelled; a failed round
    (database away) is logged and the next one resumes (`sending` rows stay claimed, never resent)."""
    while True:
        try:
            for outcome, n in (await send_due_feedback(sending, clock.now())).items():
                FEEDBACK.labels(outcome).inc(n)
        except _REVIEW_ERRORS as exc:
            log.warning("reporter feedback round failed", extra={"error": type(exc).__name__})
        await asyncio.sleep(interval_s)


async def retain_daily(retaining: Retaining, run_at: time, interval_s: float) -> None:
    """Run the retention job once a day, at the first look after `run_at` (Stockholm time), until
    cancelled. Each instance runs it once a day; a second run the same day erases nothing more
    (erasure is idempotent). A failed run (database away) is tried again at the next look."""
    last: date | None = None
    while True:
        local = retaining.clock.now().astimezone(STOCKHOLM)
        if local.time() >= run_at and local.date() != last:
            try:
                await run_retention(retaining, dry_run=False)
                last = local.date()
            except _REVIEW_ERRORS as exc:
                log.warning("retention run failed, trying again", extra={"error": type(exc).__name__})
        await asyncio.sleep(interval_s)
