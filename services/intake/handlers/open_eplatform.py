"""Polling Open ePlatform (DOMAIN.md §4): list new instances, store each once, then call back.

Per instance: fetch and read the form → store its submission and its state in one unit of work
→ after the commit confirmDelivery (our referral ids as ExternalID) → setStatus. Each step is
recorded, so a poller killed anywhere resumes at the first step not recorded. An instance that
cannot be taken is retried a few rounds (the mapping may be fixed meanwhile), then rejected and
its status set back in the portal; its raw document is kept encrypted at every failed attempt, so
`remap` can import it once the mapping is fixed. An instance the portal no longer knows (a 404, or
a callback fault "… was not found") is gone: alerted and never asked for again. One poller works
at a time (`PollerTurn`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from services.intake.domain.open_eplatform import (
    REMAPPABLE,
    CallbackCall,
    CallbackStep,
    InstanceRejected,
    InstanceState,
    TrackedInstance,
    may_import,
    next_callback,
    raw_associated_data,
)
from services.intake.domain.submissions import Document, SubmissionConflict, original_oep_document
from services.intake.handlers.submissions import IntakeSecrets, store_submission
from services.intake.ports import CallbackFault, IntakeUnitOfWork, OpenEPlatform, PollerTurn, PortalForm
from shared.clock import STOCKHOLM, Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollerConfig:
    """What the poller does, from `OEP__…` settings."""

    families: tuple[str, ...]
    start: datetime
    max_attempts: int = 3
    status_received: str = "Mottagen"
    status_rejected: str = "Kunde inte tas emot automatiskt"
    external_system: str = "referral-router"
    list_days: int | None = None  # list at most this many days from the cursor (toDate), or all


@dataclass(frozen=True)
class OepPolling:
    """What the poll's use cases work with: storage, the portal, the turn, the keys and the clock."""

    unit_of_work: Callable[[], IntakeUnitOfWork]
    portal: OpenEPlatform
    turn: PollerTurn
    config: PollerConfig
    keys: IntakeSecrets
    clock: Clock


@dataclass
class PollTally:
    """What rounds did, for the edge's counters: instances by outcome, callbacks by call and outcome."""

    instances: Counter[str] = field(default_factory=Counter)
    callbacks: Counter[tuple[str, str]] = field(default_factory=Counter)


async def poll_round(poll: OepPolling, tally: PollTally) -> None:
    """One round: finish pending callbacks, then every family's new instances (if it is our turn).

    PortalUnavailable or a database error ends the round; the next round resumes where it ended.
    """
    async with poll.turn.hold() as ours:
        if not ours:
            return
        await call_back(poll, tally, None)
        for family in poll.config.families:
            await poll_family(poll, tally, family)


async def poll_family(poll: OepPolling, tally: PollTally, family: str) -> None:
    """Import and call back each instance listed since the family's cursor, then move the cursor."""
    async with poll.unit_of_work() as uow:
        since = await uow.oep_instances.cursor(family) or poll.config.start
    # The portal lists by local date: instances of the cursor's day are listed again and skipped.
    from_date = since.astimezone(STOCKHOLM).date()
    days = poll.config.list_days
    to_date = None if days is None else from_date + timedelta(days=days)
    # Open ePlatform lists the newest first; the oldest report is taken first (ids grow with time).
    for flow_instance_id in sorted(await poll.portal.list_instances(family, from_date, to_date)):
        async with poll.unit_of_work() as uow:
            state = await uow.oep_instances.state_of(flow_instance_id)
        if may_import(state):
            await import_instance(poll, tally, family, flow_instance_id)
            await call_back(poll, tally, flow_instance_id)
    # A window that ended before today was listed whole: the next one starts at its end, even
    # when it held nothing (else an empty window would be listed for ever).
    today = poll.clock.now().astimezone(STOCKHOLM).date()
    floor = None if to_date is None or to_date >= today else datetime.combine(to_date, time(0), STOCKHOLM)
    async with poll.unit_of_work() as uow:
        await uow.oep_instances.move_cursor(family, floor)
        await uow.commit()


async def import_instance(poll: OepPolling, tally: PollTally, family: str, flow_instance_id: int) -> None:
    """Store an instance's submission once, or count a failed attempt at it."""
    try:
        await store_form(poll, tally, family, await poll.portal.fetch_form(flow_instance_id))
    except InstanceRejected as exc:
        await record_failure(poll, tally, family, flow_instance_id, exc)


async def store_form(
    poll: OepPolling, tally: PollTally, family: str, form: PortalForm,
    allowed: Callable[[InstanceState | None], bool] = may_import,
) -> None:  # fmt: skip
    """The submission and the instance's new state in one unit of work (InstanceRejected on a
    submission id used before with another body)."""
    iid = form.flow_instance_id
    async with poll.unit_of_work() as uow:
        # Loaded first, so that the submission joins this unit of work's transaction with the
        # state recording it (as a unit of work's first step it would be stored alone).
        if not allowed(await uow.oep_instances.state_of(iid)):
            return
        try:
            first = () if form.original is None else (original_oep_document(form.original),)
            originals: tuple[Document, ...] = (*first, *form.attachments)
            received = await store_submission(
                uow, form.submission, form.details, f"oep:{family}", poll.keys, poll.clock, originals
            )
        except SubmissionConflict:
            raise InstanceRejected(
                "the submission id was used before with another body", form.first_submitted
            ) from None
        referral_ids = [r.referral_id for r in received.receipt.referrals]
        await uow.oep_instances.record_stored(
            iid, family, form.first_submitted, received.receipt.reference, referral_ids
        )
        await uow.commit()
    tally.instances["replayed" if received.repeated else "stored"] += 1
    log.info(
        "open eplatform instance stored",
        extra={"flow_instance_id": iid, "referrals": len(referral_ids), "attachments": len(form.attachments)},
    )


async def record_failure(
    poll: OepPolling, tally: PollTally, family: str, flow_instance_id: int, exc: InstanceRejected
) -> None:
    """Count a failed attempt, keeping the raw document encrypted; at the bound the instance is
    rejected (and reported by a callback). A gone instance is marked so, not attempted again."""
    if exc.gone:
        await record_gone(poll, tally, family, flow_instance_id, exc.reason)
        return
    async with poll.unit_of_work() as uow:
        state, attempts = await uow.oep_instances.record_failure(
            flow_instance_id, family, exc.reason, poll.config.max_attempts, exc.first_submitted
        )
        if exc.raw is not None:
            key_id, blob = poll.keys.cipher.encrypt(exc.raw, raw_associated_data(flow_instance_id))
            await uow.oep_instances.keep_raw(flow_instance_id, exc.charset, key_id, blob, len(exc.raw))
        await uow.commit()
    tally.instances["rejected" if state is InstanceState.REJECTED else "failed_attempt"] += 1
    log.warning(
        "open eplatform instance could not be mapped",
        extra={"flow_instance_id": flow_instance_id, "reason": exc.reason, "attempt": attempts,
               "state": state.value},
    )  # fmt: skip


async def record_gone(
    poll: OepPolling, tally: PollTally, family: str | None, flow_instance_id: int, reason: str
) -> None:
    """The portal no longer knows the instance: mark it gone (never asked for again) and alert."""
    async with poll.unit_of_work() as uow:
        before = await uow.oep_instances.record_gone(flow_instance_id, family, reason)
        await uow.commit()
    if before is InstanceState.DONE:
        return
    tally.instances["gone"] += 1
    log.error(
        "open eplatform instance gone from the portal",
        extra={"flow_instance_id": flow_instance_id, "reason": reason,
               "state_before": before.value if before else None},
    )  # fmt: skip


async def call_back(poll: OepPolling, tally: PollTally, flow_instance_id: int | None) -> None:
    """Make the callbacks still due (for every instance, or the one given); a refusal leaves the
    instance where it is, to be tried again next round, unless the portal no longer knows it."""
    async with poll.unit_of_work() as uow:
        pending = await uow.oep_instances.awaiting_callback(flow_instance_id)
    for instance in pending:
        try:
            await _call_back_one(poll, tally, instance)
        except CallbackFault as exc:
            tally.callbacks["any", "fault"] += 1
            log.warning(
                "open eplatform callback refused",
                extra={"flow_instance_id": instance.flow_instance_id, "fault": str(exc)},
            )
            if exc.instance_gone:  # its row exists: no family needed
                await record_gone(poll, tally, None, instance.flow_instance_id, str(exc))


async def _call_back_one(poll: OepPolling, tally: PollTally, instance: TrackedInstance) -> None:
    state = instance.state
    while (step := next_callback(state)) is not None:
        await _call(poll, instance, step)
        tally.callbacks[step.call.value, "ok"] += 1
        async with poll.unit_of_work() as uow:
            await uow.oep_instances.advance(instance.flow_instance_id, state, step.after)
            await uow.commit()
        state = step.after


async def _call(poll: OepPolling, instance: TrackedInstance, step: CallbackStep) -> None:
    config, iid = poll.config, instance.flow_instance_id
    if step.call is CallbackCall.CONFIRM_DELIVERY:
        await poll.portal.confirm_delivery(iid, ",".join(instance.referral_ids), config.external_system)
    else:
        await poll.portal.set_status(iid, config.status_received if step.accepted else config.status_rejected)


@dataclass
class RemapOutcome:
    """What a re-mapping did: instances imported, and those still failing with their reasons."""

    imported: list[int] = field(default_factory=list)
    failing: dict[int, str] = field(default_factory=dict)


async def remap(poll: OepPolling, tally: PollTally, flow_instance_id: int | None = None) -> RemapOutcome:
    """Import the kept raw documents of instances that failed (all, or the one given) through
    the current mapping, then make their callbacks. The submission id is the portal's instance
    id, so an instance is never stored twice, however often this runs."""
    async with poll.unit_of_work() as uow:
        kept = await uow.oep_instances.raw_of(flow_instance_id)
    outcome = RemapOutcome()
    for item in kept:
        iid = item.flow_instance_id
        raw = poll.keys.cipher.decrypt(item.key_id, item.ciphertext, raw_associated_data(iid))
        try:
            form = await poll.portal.read_form(iid, raw, item.charset)
            await store_form(poll, tally, item.family_id, form, allowed=lambda s: s in REMAPPABLE)
        except InstanceRejected as exc:
            outcome.failing[iid] = exc.reason
            log.warning(
                "open eplatform instance still not mappable",
                extra={"flow_instance_id": iid, "reason": exc.reason},
            )
            continue
        outcome.imported.append(iid)
        await call_back(poll, tally, iid)
    return outcome
