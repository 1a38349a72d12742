"""Settings groups shared by every service, read from environment variables with `__` nesting."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.clock import Clock, ShiftedClock, SystemClock


class KafkaSettings(BaseModel):
    """Kafka connection and topic settings (`KAFKA__…`)."""

    bootstrap_servers: str = "127.0.0.1:19092"
    # Tansu does not support idempotent producing; Apache Kafka does (DESIGN.md §2).
    flavour: Literal["tansu", "apache"] = "tansu"
    partitions: int = Field(default=4, ge=1, le=1024)
    replication_factor: int = Field(default=1, ge=1)
    # Prefixed onto every topic and consumer group; lets tests and shared clusters isolate runs.
    topic_prefix: str = ""
    request_timeout_ms: int = Field(default=30_000, ge=1000)
    # While records flow, a consumer's fetch waits up to this long for `fetch_min_bytes` to
    # gather, so a batch (one transaction, one offset commit) holds several events under load
    # instead of one each (`shared.kafka.IdleAwarePolling`; at rest: `idle_fetch_max_wait_ms`).
    fetch_max_wait_ms: int = Field(default=50, ge=0, le=5000)
    # None: by flavour (`consumer_min_bytes`).
    fetch_min_bytes: int | None = Field(default=None, ge=1)
    # Once a consumer's topics are quiet (a poll found nothing for a second), a fetch waits up to
    # this long for a single byte, so a system at rest costs almost nothing (issue 25). None: by
    # flavour (`consumer_idle_max_wait_ms`).
    idle_fetch_max_wait_ms: int | None = Field(default=None, ge=0, le=30_000)
    # A consumer that sends no heartbeat for this long leaves its group (heartbeats every third of
    # it). Tansu also holds a new member's first join for about half of it (measured: 5 s at
    # 10 s, 1 s at 2 s), which every service start waits for; Apache Kafka refuses less than its
    # `group.min.session.timeout.ms` (6 s by default).
    session_timeout_ms: int = Field(default=10_000, ge=1000, le=300_000)

    @model_validator(mode="after")
    def _idle_fetch_within_request_timeout(self) -> KafkaSettings:
        """A fetch that may wait as long as a request may take would time out at rest."""
        wait = self.idle_fetch_max_wait_ms
        if wait is not None and wait >= self.request_timeout_ms:
            raise ValueError(
                f"idle_fetch_max_wait_ms ({wait}) must be less than request_timeout_ms"
                f" ({self.request_timeout_ms})"
            )
        return self

    @property
    def consumer_min_bytes(self) -> int:
        """64 KiB on Apache Kafka; 1 on Tansu, which spins while it waits for bytes (bench/: its
        CPU per referral rose threefold) and batches well on its own."""
        if self.fetch_min_bytes is not None:
            return self.fetch_min_bytes
        return 65_536 if self.flavour == "apache" else 1

    @property
    def consumer_idle_max_wait_ms(self) -> int:
        """20 s on Apache Kafka, which answers a waiting fetch as soon as a record arrives (the
        wait only bounds how often an idle consumer wakes; it stays under `request_timeout_ms`);
        1.2 s on Tansu, which polls its storage while a fetch waits and so answers a record up
        to about 0.4 of the wait late (measured, 12 records each: at most 0.2 s at 800 ms, 0.41 s
        at 1.2 s, 0.71 s at 1.5 s, 0.95 s at 2 s, 4.2 s at 10 s), and the first referral after a
        pause crosses two consumers before its email (target: 2 s)."""
        if self.idle_fetch_max_wait_ms is not None:
            return self.idle_fetch_max_wait_ms
        return min(20_000, self.request_timeout_ms * 2 // 3) if self.flavour == "apache" else 1200

    @property
    def idempotent_producer(self) -> bool:
        """Whether the producer may use `enable_idempotence` on this broker."""
        return self.flavour == "apache"

    def topic(self, name: str) -> str:
        """The concrete topic name for a contract topic name."""
        return f"{self.topic_prefix}{name}"

    def group(self, name: str) -> str:
        """The concrete consumer group id for a service's group name."""
        return f"{self.topic_prefix}{name}"


class DatabaseSettings(BaseModel):
    """Postgres connection settings (`DATABASE__…`)."""

    url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:15432/postgres")
    min_pool_size: int = Field(default=1, ge=0)
    max_pool_size: int = Field(default=10, ge=1)
    connect_timeout_s: float = Field(default=5.0, gt=0)


class HttpSettings(BaseModel):
    """Where the service's HTTP server listens (`HTTP__…`)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # /docs, /redoc and /openapi.json describe every endpoint to whoever asks: off unless a
    # deployment wants them (the dev stack does); the API's reference is in the repository.
    api_docs: bool = False


class OutboxSettings(BaseModel):
    """Outbox relay tuning (`OUTBOX__…`)."""

    # The relay wakes on the NOTIFY of the transaction that added a row (and when its listening
    # connection drops); this poll is only the safety net for a notification lost meanwhile.
    # A notification is lost only while nobody listens, and a dropped listening connection wakes
    # the relay at once: so the poll almost never finds anything, and at rest it is a wake-up
    # (and a backlog query) every poll_interval_s (issue 25). OutboxStuck alerts after 300 s.
    poll_interval_s: float = Field(default=120.0, gt=0)
    batch_size: int = Field(default=100, ge=1, le=10_000)
    # After a wake-up, wait this long so rows committed meanwhile go out in the same batch:
    # under load a round of the relay (transaction, select, produce, mark) serves many rows.
    linger_s: float = Field(default=0.01, ge=0, le=1)
    max_backoff_s: float = Field(default=30.0, gt=0)


class ConsumerSettings(BaseModel):
    """How a consumer retries before it nacks or dead-letters (`CONSUMER__…`)."""

    retry_initial_s: float = Field(default=0.2, gt=0)
    retry_max_s: float = Field(default=5.0, gt=0)
    # A transient failure (database away) is retried this long, then the batch is nacked.
    retry_budget_s: float = Field(default=30.0, gt=0)
    # Any other failure of one record: this many attempts in all, then it is dead-lettered.
    poison_attempts: int = Field(default=4, ge=1, le=20)
    # A failing loop writes at most one line per kind and topic this often.
    log_interval_s: float = Field(default=10.0, ge=0)


class LogSettings(BaseModel):
    """Logging (`LOG__…`)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class DevClockSettings(BaseModel):
    """Dev and tests only (`DEV_CLOCK__…`): the service's clock reads `start` at the real instant
    `since` and runs `rate` times as fast, never later than the real time. Unset: the real clock.
    `referral-router dev --accelerate` sets it so the deadline scan and handovers keep pace with
    the simulator's back-dated referrals."""

    start: AwareDatetime | None = None
    since: AwareDatetime | None = None  # unset: when the service starts
    rate: float = Field(default=1.0, gt=0, le=1_000_000)

    def clock(self) -> Clock:
        """The real clock, or the shifted one these settings describe."""
        if self.start is None:
            return SystemClock()
        return ShiftedClock(self.start, self.since or datetime.now(UTC), self.rate)


class ServiceSettings(BaseSettings):
    """Base of every service's settings class; each service adds its own groups."""

    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="ignore", frozen=True, env_prefix="")

    http: HttpSettings = HttpSettings()
    kafka: KafkaSettings = KafkaSettings()
    database: DatabaseSettings = DatabaseSettings()
    outbox: OutboxSettings = OutboxSettings()
    consumer: ConsumerSettings = ConsumerSettings()
    log: LogSettings = LogSettings()
    unit_config_path: Path = Path("deploy/config/unit.example.yaml")
    dev_clock: DevClockSettings = DevClockSettings()
