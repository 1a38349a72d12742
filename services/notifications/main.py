"""Composition root of the notifications service: settings → adapters → runtime and app."""

from __future__ import annotations

import functools
from datetime import timedelta
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from pydantic import BaseModel, field_validator

from services.notifications.adapters.metrics import delivery_metrics
from services.notifications.adapters.postgres import PostgresNotificationsUnitOfWork
from services.notifications.adapters.postgres_deliveries import PostgresDeliveryLedger
from services.notifications.adapters.smtp import SmtpSender, SmtpSettings
from services.notifications.adapters.teams import TeamsSender, TeamsSettings
from services.notifications.domain.office import OfficeHours
from services.notifications.domain.unit import StaffMember, Team, Unit
from services.notifications.handlers.escalations import escalate_due
from services.notifications.handlers.sending import Courier, SendingPolicy
from services.notifications.ports import Sender
from services.notifications.subscribers import CONSUMED, subscribe
from services.notifications.timers import DeliveryWorker, WorkerSettings, run_escalations
from shared import db
from shared.clock import Clock
from shared.events import TOPIC_DEADLETTER, TOPIC_NOTIFICATIONS
from shared.logging import configure_logging
from shared.office_days import swedish_holidays
from shared.runtime import Runtime, serve, service_app
from shared.settings import HttpSettings, ServiceSettings
from shared.unit_config import NotificationRoutes, Person, UnitConfig, UnitConfigError, load_unit_config

SERVICE = "notifications"
ISSUE_19_ROUTES = ("registration.approaching", "registration.breached", "access.break_glass", "access.review")
# Issue 22: an overload flag or an incident nobody configured must not fall silent either.
ISSUE_22_ROUTES = (
    "overload.flagged", "overload.escalated", "overload.responded", "consultation.booked",
    "consultation.reminder", "consultation.cancelled", "incident.recorded",
)  # fmt: skip


class LinkSettings(BaseModel):
    """Links in messages (`LINKS__…`)."""

    # e.g. https://socialtjanst.example.se/referrals/{referral_id}: each message about a referral
    # links to it, and the access review links each reference. None: under the unit's base_url.
    referral_url: str | None = None

    @field_validator("referral_url")
    @classmethod
    def _one_placeholder(cls, value: str | None) -> str | None:
        if value is not None and (value.count("{") != 1 or "{referral_id}" not in value):
            raise ValueError("must hold {referral_id} and no other placeholder")
        return value


class NotificationSettings(ServiceSettings):
    """Everything notifications reads from the environment."""

    http: HttpSettings = HttpSettings(port=8083)
    smtp: SmtpSettings = SmtpSettings()
    teams: TeamsSettings = TeamsSettings()
    worker: WorkerSettings = WorkerSettings()
    links: LinkSettings = LinkSettings()


def notification_unit(config: UnitConfig, links: LinkSettings | None = None) -> Unit:
    """What the notification rules need of the unit config, with the Swedish holiday calendar."""
    tz = ZoneInfo(config.rotation.timezone)
    routes = config.notifications
    webhooks, work = routes.staff_webhooks, config.working_environment
    unknown = sorted(set(webhooks) - {p.id for p in config.all_people()})
    if unknown:
        raise UnitConfigError(f"notifications.staff_webhooks names unknown staff ids: {unknown}")
    return Unit(
        people={p.id: staff_member(p, webhooks.get(p.id)) for p in config.all_people()},
        teams={t.id: Team(t.id, t.name, t.manager.id, t.teams_webhook) for t in config.teams},
        head_of_unit=config.head_of_unit.id,
        office=OfficeHours(config.office_hours.start, config.office_hours.end, tz, swedish_holidays()),
        intake=tuple(p.id for p in config.intake_group),
        out_of_hours=config.out_of_hours.id if config.out_of_hours else None,
        routes=unit_routes(config),
        base_url=config.base_url,
        language=routes.language or config.language,
        quiet_hours=routes.quiet_hours.enabled,
        escalate_after=routes.escalation.after,
        referral_url=links.referral_url if links else None,
        occupational_health=work.occupational_health.id if work.occupational_health else None,
        slot_titles={slot.id: slot.title for slot in work.meeting_slots},
        tzid=config.rotation.timezone,
    )


def unit_routes(config: UnitConfig) -> dict[str, tuple[str, ...]]:
    """The unit file's routes; a file that names routes but not the issue-19 or issue-22 kinds gets
    their defaults, because a break-the-glass alert or an overload flag nobody configured must not
    fall silent (`[]` turns one off)."""
    defaults: dict[str, tuple[str, ...]] = {k: tuple(r) for k, r in NotificationRoutes().routes.items()}
    given: dict[str, tuple[str, ...]] = {k: tuple(r) for k, r in config.notifications.routes.items()}
    return {kind: defaults[kind] for kind in (*ISSUE_19_ROUTES, *ISSUE_22_ROUTES)} | given


def staff_member(person: Person, webhook: str | None) -> StaffMember:
    """A person of the unit file as the rules see them, with their own Teams webhook if any."""
    return StaffMember(person.id, person.name, str(person.email), person.mentor, webhook)


def sending_policy(config: UnitConfig, worker: WorkerSettings) -> SendingPolicy:
    """The worker's batch and lease, and each webhook's pace from the unit config."""
    return SendingPolicy(
        batch_size=worker.batch_size,
        lease=timedelta(seconds=worker.lease_s),
        teams_gap=timedelta(seconds=1.0 / config.notifications.teams_rate_per_s),
    )


def create_app(settings: NotificationSettings, clock: Clock | None = None) -> FastAPI:
    """Wire the notifications service; the unit config is validated before anything starts."""
    config = load_unit_config(settings.unit_config_path)
    unit, clock = notification_unit(config, settings.links), clock or settings.dev_clock.clock()
    runtime = Runtime(
        settings,
        service=SERVICE,
        migrations="services.notifications.migrations",
        topics=(*CONSUMED, TOPIC_NOTIFICATIONS, TOPIC_DEADLETTER),
        unit_of_work=PostgresNotificationsUnitOfWork,
    )
    subscribe(runtime, unit, clock)

    async def metrics() -> bytes:
        return delivery_metrics(await PostgresDeliveryLedger(runtime.pool).counts())

    start = functools.partial(start_workers, runtime, settings, config, unit, clock)
    return service_app(SERVICE, runtime, on_start=start, extra_metrics=metrics)


def start_workers(
    runtime: Runtime[PostgresNotificationsUnitOfWork], settings: NotificationSettings, config: UnitConfig,
    unit: Unit, clock: Clock,
) -> None:  # fmt: skip
    """The delivery worker (email and Teams senders) and, when enabled, the escalation scan."""
    senders: dict[str, Sender] = {
        "email": SmtpSender(settings.smtp, clock),
        "teams": TeamsSender(settings.teams, clock=clock),
    }
    ledger = PostgresDeliveryLedger(runtime.pool)
    policy = sending_policy(config, settings.worker)
    courier = Courier(ledger, runtime.unit_of_work, senders, unit, clock, policy)
    worker = DeliveryWorker(
        courier.send_due, courier.reap_abandoned, settings.worker,
        connect=lambda: db.connect(settings.database, SERVICE), seconds_until_due=courier.seconds_until_due,
    )  # fmt: skip
    runtime.run_in_background("delivery-worker", worker.run)
    escalation = config.notifications.escalation
    if escalation.enabled:
        scan = functools.partial(escalate_due, runtime.unit_of_work, unit, clock)
        runtime.run_in_background("escalations", lambda: run_escalations(scan, escalation.scan_interval_s))


def main() -> None:
    """Run the notifications service until SIGTERM."""
    settings = NotificationSettings()
    configure_logging(SERVICE, settings.log.level)
    serve(create_app(settings), settings.http)


if __name__ == "__main__":
    main()
