"""Composition root of the intake service (and of its re-encryption command, `rekey.py`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime, time
from pathlib import Path

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, Field, SecretStr

from services.intake import api, api_access_log, api_dossier, api_feedback, api_retention, subscribers, timers
from services.intake.access_review_config import AccessReviewSettings, access_reviewing
from services.intake.adapters import dossier_print
from services.intake.adapters.assignment_client import AssignmentClient
from services.intake.adapters.feedback_mail import FeedbackSettings, SmtpFeedbackMailer
from services.intake.adapters.oep_client import FetchLimits, OpenEPlatformClient
from services.intake.adapters.oep_mapping import FormMapping, load_mapping
from services.intake.adapters.postgres import PostgresIntakeUnitOfWork
from services.intake.adapters.postgres_oep import PostgresPollerTurn
from services.intake.adapters.statistics_files import FileFormat, write_statistics
from services.intake.api_docs import with_portal_schemas
from services.intake.domain.access_chain import ChainCheck
from services.intake.domain.dossier_access import Organisation
from services.intake.domain.retention import RetentionPlan
from services.intake.handlers.access_log import verify_access_log
from services.intake.handlers.dossier import Dossiers
from services.intake.handlers.feedback_sending import FeedbackSending
from services.intake.handlers.open_eplatform import OepPolling, PollerConfig, PollTally, RemapOutcome, remap
from services.intake.handlers.register_extract import Extracting
from services.intake.handlers.retention import Retaining, RetentionReport, run_retention
from services.intake.handlers.statistics import statistics_for
from services.intake.handlers.submissions import IntakeSecrets, adopt_legacy_submissions, reencrypt_all
from shared import db
from shared.clock import STOCKHOLM, Clock, SystemClock
from shared.crypto import Cipher, decode_key
from shared.events import (
    TOPIC_ACCESS,
    TOPIC_ASSIGNED,
    TOPIC_DEADLETTER,
    TOPIC_FEEDBACK,
    TOPIC_RECEIVED,
    TOPIC_REGISTERED,
    TOPIC_UPDATED,
)
from shared.logging import configure_logging
from shared.runtime import Runtime, serve, service_app
from shared.settings import HttpSettings, ServiceSettings
from shared.staff_auth import AuthSettings, TokenVerifier, authenticator
from shared.unit_config import UnitConfig, load_unit_config

SERVICE = "intake"
MIGRATIONS = "services.intake.migrations"


class PortalSettings(BaseModel):
    """Portal clients and their shared secrets (`PORTAL__CLIENTS` as JSON)."""

    clients: dict[str, list[SecretStr]] = {}
    # How far back a form's submitted_at may lie: older is refused (422, or rejected in Open
    # ePlatform) rather than breaching every legal clock at once on arrival.
    max_age_days: int = Field(default=365, ge=1, le=3650)


class CryptoSettings(BaseModel):
    """Keys for personal details at rest and the pepper for pseudonymous keys (`CRYPTO__…`)."""

    keys: dict[str, SecretStr]
    current_key: str
    pepper: SecretStr


class OepSettings(BaseModel):
    """An Open ePlatform installation to poll (`OEP__…`); intake polls only when this is set."""

    base_url: str = Field(description="e.g. https://e-tjanster.example.se (REST and callback share it)")
    username: str = Field(description="Basic authentication user of the integration account")
    password: SecretStr
    families: list[str] = Field(min_length=1, description='e-service family ids, e.g. ["101"]')
    mapping_path: Path = Field(description="tag mapping YAML, e.g. deploy/config/oeplatform.orosanmalan.yaml")
    callback_path: str = "/callback/CallbackService"
    start_date: date = Field(description="poll instances submitted from this date on the first run")
    poll_interval_s: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(
        default=3, ge=1, description="attempts before an unmappable instance is rejected"
    )
    status_received: str = Field(
        default="Mottagen",
        description="status alias set after delivery; must exist in the installation (real ones seen: "
        "Inskickat, Klart, Preliminär)",
    )
    status_rejected: str = Field(default="Kunde inte tas emot automatiskt", description="alias when rejected")
    external_system: str = Field(default="referral-router", description="System of the ExternalID")
    timeout_s: float = Field(default=10.0, gt=0)
    max_backoff_s: float = Field(
        default=600.0, gt=0, description="longest pause after failed rounds in a row"
    )
    list_days: int | None = Field(
        default=None, ge=1, description="toDate: list at most this many days per round"
    )
    max_file_bytes: int = Field(default=20 * 1024 * 1024, gt=0, description="largest uploaded file taken")
    fetch_pdf: bool = Field(default=True, description="fetch and keep the instance's PDF")


class AssignmentApiSettings(BaseModel):
    """Assignment's staff API, asked for a referral's state when the access projection may be
    behind it (`ASSIGNMENT__…`)."""

    url: str = "http://127.0.0.1:8082"
    timeout_s: float = Field(default=2.0, gt=0, le=30)


class DossierSettings(BaseModel):
    """The dossier's access rules (`DOSSIER__…`)."""

    break_glass_hours: float = Field(default=4.0, gt=0, le=72)


class IntakeSettings(ServiceSettings):
    """Everything intake reads from the environment."""

    http: HttpSettings = HttpSettings(port=8081)
    portal: PortalSettings = PortalSettings()
    crypto: CryptoSettings
    oep: OepSettings | None = None
    auth: AuthSettings = AuthSettings()
    assignment: AssignmentApiSettings = AssignmentApiSettings()
    dossier: DossierSettings = DossierSettings()
    access_review: AccessReviewSettings = AccessReviewSettings()
    feedback: FeedbackSettings = FeedbackSettings()


def build_secrets(settings: CryptoSettings) -> IntakeSecrets:
    """The cipher and pepper from configuration; fails clearly on a bad key."""
    keys = {k: decode_key(v.get_secret_value()) for k, v in settings.keys.items()}
    return IntakeSecrets(Cipher(keys, settings.current_key), settings.pepper.get_secret_value().encode())


TOPICS = (
    TOPIC_RECEIVED, TOPIC_ASSIGNED, TOPIC_UPDATED, TOPIC_REGISTERED, TOPIC_ACCESS, TOPIC_FEEDBACK,
    TOPIC_DEADLETTER,
)  # fmt: skip


def create_app(settings: IntakeSettings, clock: Clock) -> FastAPI:
    """Wire the intake service from its settings and clock; a bad key, mapping or unit file, or a
    missing print font, stops it here."""
    config = load_unit_config(settings.unit_config_path)
    dossier_print.check_fonts()
    runtime = Runtime(
        settings, service=SERVICE, migrations=MIGRATIONS, topics=TOPICS, unit_of_work=PostgresIntakeUnitOfWork
    )
    subscribers.subscribe(runtime)
    keys = build_secrets(settings.crypto)
    poller = open_eplatform_poller(runtime, settings, keys, clock) if settings.oep is not None else None
    http = httpx.AsyncClient(base_url=settings.assignment.url, timeout=settings.assignment.timeout_s)
    reviewing = access_reviewing(runtime.unit_of_work, config, settings.access_review)
    feedback_sending = FeedbackSending(
        runtime.unit_of_work, keys.cipher, SmtpFeedbackMailer(settings.feedback),
        STOCKHOLM, language=settings.feedback.language,
    )  # fmt: skip

    async def on_start() -> None:
        await adopt_legacy_submissions(runtime.unit_of_work(), keys)
        if poller is not None:
            runtime.run_in_background("oep-poller", poller)
        runtime.run_in_background("assignment-client", lambda: _close_when_stopped(http))
        runtime.run_in_background(
            "access-review",
            lambda: timers.review_access_log(reviewing, clock, settings.access_review.check_interval_s),
        )
        runtime.run_in_background(
            "reporter-feedback",
            lambda: timers.send_reporter_feedback(feedback_sending, clock, settings.feedback.interval_s),
        )

        if config.retention.erase_registered_after_days is not None:
            runtime.run_in_background(
                "retention",
                lambda: timers.retain_daily(
                    retaining, config.retention.run_at, config.retention.check_interval_s
                ),
            )

    retaining = Retaining(runtime.unit_of_work, retention_plan(config), keys.cipher, clock)
    routers = [
        api.router,
        api_dossier.router,
        api_feedback.router,
        api_access_log.router,
        api_retention.router,
    ]
    app = service_app(SERVICE, runtime, routers=routers, on_start=on_start)
    app.state.portal = api.Portal(
        lambda: settings.portal.clients, runtime.unit_of_work, keys, clock, settings.portal.max_age_days
    )
    dossiers = Dossiers(
        runtime.unit_of_work, organisation(config), keys.cipher, AssignmentClient(http), clock,
        settings.dossier.break_glass_hours,
    )  # fmt: skip
    verifier = TokenVerifier(settings.auth, [p.id for p in config.all_people()])
    authenticate = authenticator(verifier)
    app.state.dossier = api_dossier.DossierApi(dossiers, authenticate)
    app.state.feedback_language = settings.feedback.language
    app.state.access_log = api_access_log.AccessLogApi(
        runtime.unit_of_work, api_access_log.readers_from_unit(config), authenticate
    )
    app.state.retention = api_retention.RetentionApi(
        runtime.unit_of_work, Extracting(runtime.unit_of_work, keys.pepper, clock), clock, authenticate
    )
    return with_portal_schemas(app)


async def _close_when_stopped(http: httpx.AsyncClient) -> None:
    """Hold the assignment client open until the runtime stops (cancels) this task."""
    try:
        await asyncio.Event().wait()
    finally:
        await http.aclose()


def retention_plan(config: UnitConfig) -> RetentionPlan:
    """The unit file's document management plan for intake's working copy."""
    r = config.retention
    return RetentionPlan(r.erase_registered_after_days, frozenset(r.research_sample_days))


def organisation(config: UnitConfig) -> Organisation:
    """The positions that grant relations to a referral, from the unit file."""
    return Organisation(
        managers={t.id: t.manager.id for t in config.teams},
        head_of_unit=config.head_of_unit.id,
        intake_group=frozenset(p.id for p in config.intake_group),
    )


def open_eplatform_poller(
    runtime: Runtime[PostgresIntakeUnitOfWork], settings: IntakeSettings, keys: IntakeSecrets, clock: Clock
) -> Callable[[], Awaitable[None]]:
    """The Open ePlatform poller's loop; its mapping file is read (and checked) here, at start-up."""
    oep = settings.oep
    assert oep is not None
    config, mapping = poller_config(oep), load_mapping(oep.mapping_path)

    async def poll_open_eplatform() -> None:
        async with portal_http(oep) as http:
            portal = portal_client(http, oep, mapping, clock, settings.portal.max_age_days)
            turn = PostgresPollerTurn(runtime.pool)
            poll = OepPolling(runtime.unit_of_work, portal, turn, config, keys, clock)
            await timers.poll_open_eplatform(poll, oep.poll_interval_s, oep.max_backoff_s)

    return poll_open_eplatform


def portal_http(oep: OepSettings) -> httpx.AsyncClient:
    """The HTTP client of the Open ePlatform installation (Basic authentication)."""
    auth = httpx.BasicAuth(oep.username, oep.password.get_secret_value())
    return httpx.AsyncClient(base_url=oep.base_url, auth=auth, timeout=oep.timeout_s)


def portal_client(
    http: httpx.AsyncClient, oep: OepSettings, mapping: FormMapping, clock: Clock, max_age_days: int
) -> OpenEPlatformClient:
    """The Open ePlatform client over `http`, reading forms through `mapping`."""
    limits = FetchLimits(max_file_bytes=oep.max_file_bytes, fetch_pdf=oep.fetch_pdf)
    return OpenEPlatformClient(http, oep.callback_path, mapping, clock, max_age_days, limits)


def poller_config(oep: OepSettings) -> PollerConfig:
    """The poller's configuration from `OEP__…` settings."""
    return PollerConfig(
        families=tuple(oep.families),
        start=datetime.combine(oep.start_date, time(0, 0), STOCKHOLM),
        max_attempts=oep.max_attempts,
        status_received=oep.status_received,
        status_rejected=oep.status_rejected,
        external_system=oep.external_system,
        list_days=oep.list_days,
    )


async def remap_open_eplatform(
    settings: IntakeSettings, clock: Clock, flow_instance_id: int | None
) -> RemapOutcome:
    """`python -m services.intake.oep_remap`'s work: the kept raw documents of failed instances
    imported through the mapping as configured now, then called back."""
    oep = settings.oep
    if oep is None:
        raise SystemExit("OEP__… is not configured: nothing to re-map")
    keys, mapping = build_secrets(settings.crypto), load_mapping(oep.mapping_path)
    pool = await db.create_pool(settings.database, SERVICE)
    try:
        await db.apply_migrations(pool, SERVICE, MIGRATIONS)
        async with portal_http(oep) as http:
            portal = portal_client(http, oep, mapping, clock, settings.portal.max_age_days)
            poll = OepPolling(
                lambda: PostgresIntakeUnitOfWork(pool),
                portal,
                PostgresPollerTurn(pool),
                poller_config(oep),
                keys,
                clock,
            )
            tally = PollTally()
            try:
                return await remap(poll, tally, flow_instance_id)
            finally:
                timers.count(tally)
    finally:
        await pool.close()


async def reencrypt_stored_details(settings: IntakeSettings, batch_size: int) -> int:
    """The re-encryption command's work: every detail under an old key moved to the current one."""
    cipher = build_secrets(settings.crypto).cipher
    pool = await db.create_pool(settings.database, SERVICE)
    try:
        await db.apply_migrations(pool, SERVICE, MIGRATIONS)
        return await reencrypt_all(lambda: PostgresIntakeUnitOfWork(pool), cipher, batch_size)
    finally:
        await pool.close()


async def retain_stored_details(settings: IntakeSettings, dry_run: bool, clock: Clock) -> RetentionReport:
    """`referral-router retention [--dry-run]`'s work: one run of the retention job by the unit
    file's plan, as the service runs it daily."""
    plan = retention_plan(load_unit_config(settings.unit_config_path))
    cipher = build_secrets(settings.crypto).cipher
    pool = await db.create_pool(settings.database, SERVICE)
    try:
        await db.apply_migrations(pool, SERVICE, MIGRATIONS)
        retaining = Retaining(lambda: PostgresIntakeUnitOfWork(pool), plan, cipher, clock)
        return await run_retention(retaining, dry_run)
    finally:
        await pool.close()


async def verify_stored_access_log(
    settings: ServiceSettings, anchors: Mapping[int, bytes] | None = None
) -> ChainCheck:
    """`referral-router verify-access-log`'s work: the chain as stored, checked from its first row,
    and against the anchors given (seq -> hash, from the monthly reviews)."""
    pool = await db.create_pool(settings.database, SERVICE)
    try:
        return await verify_access_log(lambda: PostgresIntakeUnitOfWork(pool), anchors=anchors)
    finally:
        await pool.close()


async def export_statistics(
    settings: ServiceSettings, start: date, end: date, file_format: FileFormat, out: Path, min_cell: int
) -> int:
    """`referral-router statistics`'s work: the follow-up file for the period written to `out`;
    returns how many rows it has."""
    pool = await db.create_pool(settings.database, SERVICE)
    try:
        rows = await statistics_for(PostgresIntakeUnitOfWork(pool), start, end, min_cell)
    finally:
        await pool.close()
    write_statistics(rows, file_format, out)
    return len(rows)


def main() -> None:
    """Run the intake service until SIGTERM."""
    settings = IntakeSettings()
    configure_logging(SERVICE, settings.log.level)
    serve(create_app(settings, SystemClock()), settings.http)


if __name__ == "__main__":
    main()
