"""Use case of intake's feedback timer: send the feedback owed by email, each message at most once.

A due sending is claimed (moved to `sending`) and committed before the email leaves, and marked
sent with its `reporter_feedback.sent` event in one unit of work after the relay took it. A crash
in between leaves it `sending`: never resent automatically, since the relay may have it (SMTP has
no exactly-once), shown to an operator instead (docs/RUNBOOK.md). A letter is left for staff.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo

from services.intake.domain.feedback import Language, NotOwedFeedback, Sending, marked_sent, retry_later
from services.intake.handlers.feedback import compose, decrypted_form, feedback_event
from services.intake.ports import FeedbackMailer, FeedbackMaybeSent, FeedbackNotSent, IntakeUnitOfWork
from shared.crypto import Cipher, DataKeyDestroyed

log = logging.getLogger(__name__)
SYSTEM = "system"


@dataclass(frozen=True)
class FeedbackSending:
    """What the timer needs; `main.py` builds it."""

    unit_of_work: Callable[[], IntakeUnitOfWork]
    cipher: Cipher
    mailer: FeedbackMailer
    tz: tzinfo
    language: Language = "sv"
    batch: int = 20


async def send_due_feedback(deps: FeedbackSending, now: datetime) -> dict[str, int]:
    """Claim the sendings due by `now` and send each; how many ended in which state."""
    async with deps.unit_of_work() as uow:
        claimed = await uow.feedback.claim_due(now, deps.batch)
        await uow.commit()
    tally: dict[str, int] = {}
    for sending in claimed:
        state = await _send_one(deps, sending, now)
        tally[state] = tally.get(state, 0) + 1
    return tally


async def _send_one(deps: FeedbackSending, sending: Sending, now: datetime) -> str:
    async with deps.unit_of_work() as uow:
        tracked = await uow.dossiers.find(sending.referral_id, SYSTEM, now)
        details = await uow.dossiers.details_of(tracked.referral.submission_id) if tracked else None
        key = await uow.data_keys.get(tracked.referral.submission_id) if tracked else None
    if tracked is None or details is None:
        return await _finish(deps, replace(sending, state="failed", error="referral_missing"))
    try:
        form = decrypted_form(deps.cipher, tracked, details, key)
    except DataKeyDestroyed:  # erased by retention before the feedback left: staff answer by hand
        return await _finish(deps, replace(sending, state="failed", error="erased"))
    try:
        letter = compose(sending, tracked, form, deps.tz, deps.language)
    except NotOwedFeedback:
        return await _finish(deps, replace(sending, state="failed", error="not_owed"))
    if letter.channel == "letter" or letter.recipient.email is None:
        return await _finish(deps, replace(sending, state="letter", channel="letter"))
    try:
        await deps.mailer.send(letter.recipient.email, letter.subject, letter.body)
    except FeedbackNotSent as exc:
        after = (
            retry_later(sending, now, str(exc))
            if exc.retry
            else replace(sending, state="failed", error=str(exc))
        )
        return await _finish(deps, after)
    except FeedbackMaybeSent as exc:
        return await _finish(deps, replace(sending, state="unknown", error=str(exc)))
    sent = replace(marked_sent(sending, now, SYSTEM), channel="email")
    async with deps.unit_of_work() as uow:
        await uow.feedback.save(sent)
        await uow.outbox.add([feedback_event("sent", tracked, now, SYSTEM, "email", now)])
        await uow.commit()
    return "sent"


async def _finish(deps: FeedbackSending, sending: Sending) -> str:
    async with deps.unit_of_work() as uow:
        await uow.feedback.save(sending)
        await uow.commit()
    if sending.state in ("failed", "unknown"):
        log.warning(
            "reporter feedback not sent",
            extra={"referral_id": sending.referral_id, "state": sending.state, "error": sending.error},
        )
    return sending.state
