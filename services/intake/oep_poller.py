"""The Open ePlatform poller: list new instances, map and store each once, then call back.

Per instance: fetch → parse → map → validate → store submission and state in one transaction →
after the commit confirmDelivery (with our referral ids as ExternalID) → setStatus. Each step is
recorded, so a poller killed anywhere resumes at the first step not recorded. Instances that
cannot be mapped are retried a few times (the mapping may be fixed meanwhile), then rejected and
their status set back in the portal. One poller works at a time (advisory lock).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from prometheus_client import Counter
from pydantic import ValidationError

from services.intake import oep_store as store
from services.intake.handlers import IntakeSecrets, SubmissionConflict, receive_submission
from services.intake.oep_client import CallbackFault, InstanceGone, OpenEPlatform, PortalUnavailable
from services.intake.oep_mapping import FormMapping, UnmappableInstance, to_submission
from services.intake.oep_xml import FlowInstance, UnreadableInstance, parse_flow_instance
from services.intake.schemas import Submission, validation_context
from shared.clock import STOCKHOLM, Clock
from shared.db import TRANSIENT_DB_ERRORS, lock_id

log = logging.getLogger(__name__)
INSTANCES = Counter("intake_oep_instances_total", "Open ePlatform instances by outcome", ["outcome"])
ROUNDS = Counter("intake_oep_poll_rounds_total", "Open ePlatform poll rounds", ["outcome"])
CALLBACKS = Counter("intake_oep_callbacks_total", "Open ePlatform callbacks", ["call", "outcome"])
_LOCK = lock_id("intake:oep-poller")
_TRY_AGAIN_LATER: tuple[type[BaseException], ...] = (PortalUnavailable, *TRANSIENT_DB_ERRORS)


@dataclass(frozen=True)
class PollerConfig:
    """What the poller does, from `OEP__…` settings."""

    families: tuple[str, ...]
    mapping: FormMapping
    start: datetime
    poll_interval_s: float = 30.0
    max_attempts: int = 3
    status_received: str = "Mottagen"
    status_rejected: str = "Kunde inte tas emot automatiskt"
    external_system: str = "referral-router"


class Rejected(Exception):
    """This attempt at an instance failed for a reason that names no personal data."""

    def __init__(self, reason: str, first_submitted: datetime | None = None) -> None:
        super().__init__(reason)
        self.first_submitted = first_submitted


class OepPoller:
    """Polls one Open ePlatform installation for the configured e-service families."""

    def __init__(
        self, pool: Callable[[], asyncpg.Pool], config: PollerConfig, keys: IntakeSecrets, clock: Clock
    ) -> None:
        self._pool = pool
        self._config = config
        self._keys = keys
        self._clock = clock

    async def run(self, portal: OpenEPlatform) -> None:
        """Poll until cancelled; an unreachable portal or database only delays the next round."""
        while True:
            try:
                await self.poll_once(portal)
                ROUNDS.labels("ok").inc()
            except _TRY_AGAIN_LATER as exc:
                ROUNDS.labels("failed").inc()
                log.warning(
                    "open eplatform poll round failed",
                    extra={"error": type(exc).__name__, "detail": str(exc)},
                )
            await asyncio.sleep(self._config.poll_interval_s)

    async def poll_once(self, portal: OpenEPlatform) -> None:
        """One round: finish pending callbacks, then every family's new instances."""
        async with self._pool().acquire() as lock_conn, lock_conn.transaction():
            if not await lock_conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _LOCK):
                return
            await self._call_back(portal, None)
            for family in self._config.families:
                await self._poll_family(portal, family)

    async def _poll_family(self, portal: OpenEPlatform, family: str) -> None:
        async with self._pool().acquire() as conn:
            since = await store.cursor(conn, family) or self._config.start
        for flow_instance_id in await portal.list_instances(family, since.astimezone(STOCKHOLM).date()):
            async with self._pool().acquire() as conn:
                state = await store.state_of(conn, flow_instance_id)
            if state in (None, "received"):
                await self._import(portal, family, flow_instance_id)
                await self._call_back(portal, flow_instance_id)
        async with self._pool().acquire() as conn:
            await store.move_cursor(conn, family)

    async def _import(self, portal: OpenEPlatform, family: str, flow_instance_id: int) -> None:
        try:
            instance, submission = await self._read(portal, flow_instance_id)
            await self._store(family, instance, submission)
        except Rejected as exc:
            await self._record_failure(family, flow_instance_id, exc)

    async def _read(self, portal: OpenEPlatform, flow_instance_id: int) -> tuple[FlowInstance, Submission]:
        try:
            instance = parse_flow_instance(await portal.fetch_instance(flow_instance_id))
        except InstanceGone:
            raise Rejected("the portal does not know the instance") from None
        except UnreadableInstance as exc:
            raise Rejected(str(exc)) from None
        try:
            body = to_submission(instance, self._config.mapping)
            context = validation_context(self._clock.now())
            return instance, Submission.model_validate(body, context=context)
        except UnmappableInstance as exc:
            raise Rejected(str(exc), instance.first_submitted) from None
        except ValidationError as exc:
            paths = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
            raise Rejected(f"invalid after mapping at {', '.join(paths)}", instance.first_submitted) from None

    async def _store(self, family: str, instance: FlowInstance, submission: Submission) -> None:
        raw = submission.model_dump_json().encode()
        async with self._pool().acquire() as conn, conn.transaction():
            try:
                status, answer = await receive_submission(conn, submission, raw, f"oep:{family}", self._keys)
            except SubmissionConflict:
                raise Rejected("the submission id was used before with another body") from None
            referral_ids = [r["referral_id"] for r in answer["referrals"]]
            await store.record_stored(
                conn, instance.flow_instance_id, family, instance.first_submitted,
                submission.submission_id, referral_ids,
            )  # fmt: skip
        INSTANCES.labels("stored" if status == 202 else "replayed").inc()
        log.info(
            "open eplatform instance stored",
            extra={"flow_instance_id": instance.flow_instance_id, "referrals": len(referral_ids)},
        )

    async def _record_failure(self, family: str, flow_instance_id: int, exc: Rejected) -> None:
        async with self._pool().acquire() as conn:
            state, attempts = await store.record_failure(
                conn, flow_instance_id, family, str(exc), self._config.max_attempts, exc.first_submitted
            )
        INSTANCES.labels("rejected" if state == "rejected" else "failed_attempt").inc()
        log.warning(
            "open eplatform instance could not be mapped",
            extra={
                "flow_instance_id": flow_instance_id,
                "reason": str(exc),
                "attempt": attempts,
                "state": state,
            },
        )

    async def _call_back(self, portal: OpenEPlatform, flow_instance_id: int | None) -> None:
        async with self._pool().acquire() as conn:
            pending = await store.awaiting_callback(conn, flow_instance_id)
        for instance in pending:
            try:
                await self._call_back_one(portal, instance)
            except CallbackFault as exc:
                CALLBACKS.labels("any", "fault").inc()
                log.warning(
                    "open eplatform callback refused",
                    extra={"flow_instance_id": instance.flow_instance_id, "fault": str(exc)},
                )

    async def _call_back_one(self, portal: OpenEPlatform, instance: store.InstanceState) -> None:
        config, state, iid = self._config, instance.state, instance.flow_instance_id
        if state == "stored":
            await portal.confirm_delivery(iid, ",".join(instance.referral_ids), config.external_system)
            state = await self._advance(iid, "confirmDelivery", "stored", "delivered")
        if state == "delivered":
            await portal.set_status(iid, config.status_received)
            await self._advance(iid, "setStatus", "delivered", "done")
        if state == "rejected":
            await portal.set_status(iid, config.status_rejected)
            await self._advance(iid, "setStatus", "rejected", "rejected_reported")

    async def _advance(self, flow_instance_id: int, call: str, from_state: str, to_state: str) -> str:
        CALLBACKS.labels(call, "ok").inc()
        async with self._pool().acquire() as conn:
            await store.advance(conn, flow_instance_id, from_state, to_state)
        return to_state
