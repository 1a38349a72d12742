"""Feedback to mandatory reporters (SoL 2025:400 19 kap. 6 §, issue 23): requests recorded by
staff, the decisions assignment announces, the sending by email (the timer) or by letter (staff
record it), each sending announced on `referrals.feedback.v1` so assignment's clock stops.

Intake owns this because the reporter's identity and address exist only in its encrypted details:
no other service ever holds them (docs/ARCHITECTURE.md). A request and a decision about one
referral take the referral's feedback turn first, so whichever commits second sees the other and
the feedback is owed exactly once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from services.intake.domain.access_log import AccessAction, AccessRelation
from services.intake.domain.dossier import AccessRefused, Tracked, standing
from services.intake.domain.dossier_access import dossier_relation
from services.intake.domain.feedback import (
    Decided,
    FeedbackChannel,
    FeedbackRequest,
    FeedbackText,
    Language,
    Recipient,
    Sending,
    as_plain_text,
    channel_given,
    feedback_recipient,
    feedback_text,
    marked_sent,
    owed_sending,
)
from services.intake.domain.submissions import DataKey
from services.intake.handlers.dossier import Attempt, Dossiers, access_entry
from services.intake.handlers.sealing import open_row
from services.intake.ports import IntakeUnitOfWork
from shared.clock import STOCKHOLM
from shared.crypto import Cipher
from shared.events import TOPIC_FEEDBACK, ReporterFeedback, new_envelope, outbox_row

PRODUCER = "intake"
FUTURE_SLACK = timedelta(minutes=5)
# Who records a request or a letter sent (CONTRACTS.md §2a), each also by relation to the referral.
FEEDBACK_ROLES = frozenset({"intake", "caseworker", "manager"})


class NotYetAssigned(Exception):
    """The referral is not assigned yet (as far as intake knows): try again in a moment."""


class FeedbackTimeOutOfRange(Exception):
    """A time before the referral was received, or in the future."""


class NoFeedbackOwed(Exception):
    """No feedback is owed on this referral yet: no decision, or nobody asked."""


@dataclass(frozen=True)
class Requested:
    """The request as stored (this one or the first) and the sending, if feedback is now owed."""

    request: FeedbackRequest
    sending: Sending | None
    new: bool


async def on_decisions(uow: IntakeUnitOfWork, decisions: list[tuple[Decided, bool]]) -> None:
    """Keep each decision; owe feedback where a request exists (`True`: made with the report, as
    assignment's due time says; or one recorded by staff). Runs in the consumer's unit of work."""
    for decided, owed_by_report in decisions:
        await uow.feedback.hold(decided.referral_id)
        await uow.feedback.decided(decided)
        request = await uow.feedback.request(decided.referral_id)
        sending = owed_sending(decided, request, owed_by_report, decided.decided_at)
        if sending is not None:
            await uow.feedback.owe(sending)


async def request_feedback(
    deps: Dossiers, attempt: Attempt, requested_at: datetime, channel: FeedbackChannel
) -> Requested:
    """Record a mandatory reporter's later request (the first counts) and announce it; if the
    referral is decided, the feedback is owed at once. NotOwedFeedback for a private or anonymous
    reporter; AccessRefused (logged) without a relation; NotYetAssigned before assignment."""
    now = deps.clock.now()
    tracked, form = await _checked(deps, attempt, now, "reporter feedback: request recorded")
    if requested_at > now + FUTURE_SLACK or requested_at < tracked.referral.received_at:
        raise FeedbackTimeOutOfRange("`requested_at` must lie between receipt and now")
    feedback_recipient(form.get("reporter", {}))  # NotOwedFeedback: nothing stored
    if tracked.projection is None or tracked.projection.assignment is None:
        raise NotYetAssigned(attempt.referral_id)
    mine = FeedbackRequest(attempt.referral_id, requested_at, channel, "staff", attempt.reader.staff_id)
    async with deps.unit_of_work() as uow:
        await uow.feedback.hold(attempt.referral_id)
        new = await uow.feedback.request(attempt.referral_id) is None
        stored = await uow.feedback.add_request(mine, now)
        decided = await uow.feedback.decision(attempt.referral_id)
        if new:
            await uow.outbox.add(
                [feedback_event("requested", tracked, requested_at, mine.recorded_by, channel, now)]
            )
            if decided is not None:
                await uow.feedback.owe(_at_once(decided, stored, now))
        sending = await uow.feedback.sending(attempt.referral_id)
        await uow.commit()
    return Requested(stored, sending, new)


def _at_once(decided: Decided, request: FeedbackRequest, now: datetime) -> Sending:
    sending = owed_sending(decided, request, False, now)
    assert sending is not None  # a request exists
    return sending


async def record_sent(
    deps: Dossiers, attempt: Attempt, sent_at: datetime, channel: FeedbackChannel
) -> Sending:
    """Staff record feedback given (a letter posted, or an email sent by hand after a failure):
    the clock stops. The first sending counts; NoFeedbackOwed when none is owed yet."""
    now = deps.clock.now()
    tracked, _ = await _checked(deps, attempt, now, "reporter feedback: sending recorded")
    async with deps.unit_of_work() as uow:
        await uow.feedback.hold(attempt.referral_id)
        sending = await uow.feedback.sending(attempt.referral_id)
        if sending is None:
            raise NoFeedbackOwed(attempt.referral_id)
        if sent_at > now + FUTURE_SLACK or sent_at < sending.decided_at:
            raise FeedbackTimeOutOfRange("`sent_at` must lie between the decision and now")
        after = marked_sent(sending, sent_at, attempt.reader.staff_id)
        if after != sending:
            after = replace(after, channel=channel)
            await uow.feedback.save(after)
            await uow.outbox.add(
                [feedback_event("sent", tracked, sent_at, attempt.reader.staff_id, channel, now)]
            )
        await uow.commit()
    return after


async def _checked(
    deps: Dossiers, attempt: Attempt, now: datetime, reason: str, action: AccessAction = AccessAction.READ
) -> tuple[Tracked, dict[str, Any]]:
    """The referral and its decrypted form for a reader with a feedback role and a relation to it;
    the attempt logged (allowed: a read, with `reason`; else denied) before anything is decided."""
    async with deps.unit_of_work() as uow:
        tracked = await uow.dossiers.find(attempt.referral_id, attempt.reader.staff_id, now)
        details = await uow.dossiers.details_of(tracked.referral.submission_id) if tracked else None
        key = await uow.data_keys.get(tracked.referral.submission_id) if tracked else None
    relation = dossier_relation(attempt.reader, standing(tracked), deps.org, now)
    allowed = bool(attempt.reader.roles & FEEDBACK_ROLES) and relation is not AccessRelation.NONE
    allowed = allowed and tracked is not None and details is not None
    logged = action if allowed else AccessAction.DENIED
    async with deps.unit_of_work() as uow:
        await uow.access_log.append(access_entry(attempt, tracked, logged, relation, reason, now))
        await uow.commit()
    if not allowed or tracked is None or details is None:
        raise AccessRefused(attempt.referral_id)
    return tracked, decrypted_form(deps.cipher, tracked, details, key)


def decrypted_form(
    cipher: Cipher, tracked: Tracked, details: tuple[str, bytes], key: DataKey | None
) -> dict[str, Any]:
    """The stored form, opened under its submission's data key (or a global key, from before data
    keys); DataKeyDestroyed when retention erased it."""
    key_id, ciphertext = details
    plain = open_row(cipher, key, key_id, ciphertext, tracked.referral.submission_id.encode())
    form: dict[str, Any] = json.loads(plain)
    return form


def feedback_event(
    kind: str, tracked: Tracked, at: datetime, by: str, channel: FeedbackChannel, now: datetime
) -> Any:
    ref = tracked.referral
    data = ReporterFeedback(
        referral_id=ref.referral_id, family_key=ref.family_key, at=at, by=by, channel=channel
    )
    envelope = new_envelope(
        f"reporter_feedback.{kind}", data, producer=PRODUCER, correlation_id=ref.referral_id, occurred_at=now
    )
    return outbox_row(TOPIC_FEEDBACK, envelope)


@dataclass(frozen=True)
class Letter:
    """What a feedback message needs: the recipient, the channel and the text."""

    recipient: Recipient
    channel: FeedbackChannel
    subject: str
    body: str


def compose(sending: Sending, tracked: Tracked, form: dict[str, Any], tz: Any, language: Language) -> Letter:
    """The feedback for a sending: NotOwedFeedback if the reporter is not owed any (checked again
    here, so no path sends feedback to a private or anonymous reporter)."""
    recipient = feedback_recipient(form.get("reporter", {}))
    received_on = tracked.referral.received_at.astimezone(tz).date()
    text = feedback_text(sending.decision, received_on, tracked.referral.referral_id, language)
    channel = sending.channel or channel_given(recipient)
    return Letter(recipient, channel, text.subject, as_plain_text(text, recipient))


async def letter_of(
    deps: Dossiers, attempt: Attempt, language: Language
) -> tuple[Recipient, FeedbackText, str, date]:
    """What the printed letter holds, for one who may record feedback: logged as an export (the
    reporter's name and organisation leave the system on paper). NoFeedbackOwed before a
    decision on a request; NotOwedFeedback for a private or anonymous reporter."""
    now = deps.clock.now()
    tracked, form = await _checked(
        deps, attempt, now, "reporter feedback: letter printed", AccessAction.EXPORT
    )
    async with deps.unit_of_work() as uow:
        sending = await uow.feedback.sending(attempt.referral_id)
    if sending is None:
        raise NoFeedbackOwed(attempt.referral_id)
    recipient = feedback_recipient(form.get("reporter", {}))
    received_on = tracked.referral.received_at.astimezone(STOCKHOLM).date()
    reference = tracked.referral.referral_id
    text = feedback_text(sending.decision, received_on, reference, language)
    return recipient, text, reference, now.astimezone(STOCKHOLM).date()
