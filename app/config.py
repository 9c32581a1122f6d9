"""Settings: one `Settings` object with nested groups, read once from the environment.

Every variable has the prefix `GATEWAY_`; nested groups use a double underscore, e.g.
`GATEWAY_DATABASE__URL`, `GATEWAY_DIRECTO__READ_TIMEOUT`. Lists (API keys, encryption keys)
accept either a JSON array or a comma-separated string, so rotation is a matter of
prepending a new value.

The defaults let the service start on a developer machine with PostgreSQL and Redis on
localhost. In `production` the service refuses to start with the development secrets.
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Development-only secrets: well known, so production refuses them (see Settings._no_dev_secrets).
DEV_API_KEY = "dev-api-key"
DEV_OPS_KEY = "dev-operations-key"  # what ./scripts/dev signs in to the console with
DEV_ENCRYPTION_KEY = "dev:" + base64.urlsafe_b64encode(b"directo-gateway-development-key!").decode()


def _split_list(value: object) -> object:
    """Accept `a,b,c` as well as a JSON list or a real list for list-valued settings."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class DatabaseSettings(BaseModel):
    url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/directo_gateway"
    pool_size: int = Field(default=10, ge=1)
    max_overflow: int = Field(default=10, ge=0)
    read_pool_size: int = Field(
        default=10, ge=1, description="Connections for the list routes' reads (no overflow)"
    )
    statement_timeout_ms: int = Field(default=30_000, ge=0)


class RedisSettings(BaseModel):
    url: str = "redis://127.0.0.1:6379/0"
    queue_name: str = Field(
        default="directo-gateway",
        description="arq queue name; also the prefix of every deterministic job id",
    )


class ApiSettings(BaseModel):
    keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=lambda: [SecretStr(DEV_API_KEY)],
        description="Bearer keys accepted by the API; several at once allow rotation",
    )

    max_body_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=1024,
        le=1024 * 1024 * 1024,
        description="Largest request body accepted (413 beyond it). The largest invoice the "
        "export accepts, every text at its maximum and escaped as \\uXXXX, is 4.6 MB",
    )

    _split = field_validator("keys", mode="before")(_split_list)

    @field_validator("keys")
    @classmethod
    def _at_least_one(cls, keys: list[SecretStr]) -> list[SecretStr]:
        if not keys or any(not key.get_secret_value() for key in keys):
            raise ValueError("at least one non-empty API key is required")
        return keys


class EncryptionSettings(BaseModel):
    """AES-256-GCM keys as `key_id:urlsafe-base64(32 bytes)`; the first one encrypts."""

    keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=lambda: [SecretStr(DEV_ENCRYPTION_KEY)]
    )

    _split = field_validator("keys", mode="before")(_split_list)

    @field_validator("keys")
    @classmethod
    def _well_formed(cls, keys: list[SecretStr]) -> list[SecretStr]:
        if not keys:
            raise ValueError("at least one encryption key is required")
        seen: set[str] = set()
        for key in keys:
            key_id, sep, material = key.get_secret_value().partition(":")
            if not sep or not key_id:
                raise ValueError("encryption keys look like 'key_id:base64-of-32-bytes'")
            try:
                raw = base64.urlsafe_b64decode(material + "=" * (-len(material) % 4))
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"encryption key {key_id!r} is not valid base64") from exc
            if len(raw) != 32:
                raise ValueError(f"encryption key {key_id!r} must decode to 32 bytes")
            if key_id in seen:
                raise ValueError(f"encryption key id {key_id!r} appears twice")
            seen.add(key_id)
        return keys


class DirectoSettings(BaseModel):
    base_url: str = Field(
        default="https://login.directo.ee",
        description="Scheme and host of Directo; the XML Direct path is appended",
    )
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=120.0, gt=0, description="Per-read; feeds are large")
    feed_read_timeout: float = Field(
        default=900.0, gt=0, description="Read timeout for whole-database feed downloads"
    )
    max_attempts: int = Field(default=3, ge=1, le=10)
    retry_base_delay: float = Field(
        default=60.0, ge=0, description="Directo asks for at least 60 s between retries"
    )
    retry_max_delay: float = Field(default=600.0, ge=0)
    max_concurrency_per_connection: int = Field(
        default=4,
        ge=1,
        description=(
            "Calls in flight per Directo connection (endpoint and token), across every job, "
            "worker process and API replica sharing the Redis queue"
        ),
    )
    interactive_reserved_slots: int = Field(
        default=1,
        ge=0,
        description=(
            "Of max_concurrency_per_connection, slots bulk reads never take, so a connection "
            "test or invoice put never waits behind a long feed read (at most the cap - 1)"
        ),
    )
    max_connections_per_process: int = Field(
        default=100,
        ge=1,
        le=1000,
        description=(
            "HTTP connections to Directo one process keeps (its pool, all kept alive); "
            "calls beyond them wait their turn in the process, interactive ones first"
        ),
    )
    budget_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A budget slot's lease, renewed while held; a dead process's slots "
        "come back after it",
    )
    date_format: Literal["dmy", "iso"] = Field(
        default="dmy",
        description=(
            "How dates in filters are written: dmy = dd.mm.yyyy (Directo's wiki), "
            "iso = yyyy-mm-dd; the connection test reports date_format_mismatch when "
            "Directo reads the other one"
        ),
    )
    # Defaults repeated in app/statistics/read_plan.py (MONTHS_PER_READ, PER_CODE_READS_UP_TO).
    statistics_months_per_read: int = Field(
        default=3,
        ge=1,
        le=12,
        description="Months one shared statistics read of a database covers (Directo has "
        "no paging: longer ranges are split so one answer stays small)",
    )
    statistics_per_code_reads_up_to: int = Field(
        default=2,
        ge=0,
        description="Linked clients' customer codes up to which a database is read per code "
        "(customercode filter) rather than whole; per code also whenever that is no more "
        "calls than the shared reads",
    )


class WebhookSettings(BaseModel):
    allow_private_targets: bool = False
    allow_http: bool = False
    timeout: float = Field(default=10.0, gt=0)


class SyncSettings(BaseModel):
    catalogue_refresh_hours: float = Field(default=6.0, gt=0)
    payment_poll_minutes: float = Field(default=15.0, gt=0)
    job_timeout_seconds: int = Field(default=3600, ge=10)
    heartbeat_seconds: float = Field(default=15.0, gt=0)
    max_queued_jobs: int = Field(
        default=1000,
        ge=1,
        description=(
            "Jobs the crons keep waiting in Redis at most; the rest wait in PostgreSQL "
            "(status queued) and the watchdog queues them as room frees"
        ),
    )
    worker_max_jobs: int = Field(
        default=200,
        ge=1,
        description=(
            "Jobs one worker process runs at once; most wait on Directo (bounded by the "
            "budget), so this is bounded by memory and the database pool, not by CPU"
        ),
    )


class StatisticsSettings(BaseModel):
    """When the scheduled import reads a month, in the client's local time (README, "The
    statistics schedule")."""

    first_read_local_hour: int | None = Field(
        default=None,
        ge=0,
        le=23,
        description="Local hour of the import day from which the month is first read; "
        "none: from the midnight that ends the import day",
    )
    settle_after_days: int = Field(
        default=7,
        ge=0,
        le=60,
        description="The month is read again from local midnight starting this many days "
        "after its import day, so late bookings arrive (the settle read); 0: never",
    )


class CallLogSettings(BaseModel):
    """The log of every Directo call (`directo_calls`, `GET /v1/jobs/{id}/calls`)."""

    retention_days: int = Field(default=30, ge=1, description="Days a call is kept")
    flush_seconds: float = Field(
        default=5.0, gt=0, description="How often each process writes its buffered calls"
    )


class WorkerSettings(BaseModel):
    """Each worker process serves its own Prometheus `/metrics` (README: Metrics)."""

    metrics_port: int = Field(
        default=9100, ge=0, le=65535, description="Port of the worker's /metrics; 0: none"
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Address the worker's /metrics listens on (0.0.0.0 in a container)",
    )


class LogSettings(BaseModel):
    format: Literal["json", "console"] = "json"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class OpsSettings(BaseModel):
    """The operations console at `/ops`: off (404) until at least one key is set."""

    keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Operations keys that sign in to the console (separate from the API "
        "keys); several at once allow rotation; none: the console is off",
    )
    session_minutes: int = Field(
        default=480, ge=1, le=7 * 24 * 60, description="How long a console sign-in lasts"
    )

    _split = field_validator("keys", mode="before")(_split_list)

    @field_validator("keys")
    @classmethod
    def _long_enough(cls, keys: list[SecretStr]) -> list[SecretStr]:
        if any(len(key.get_secret_value()) < 16 for key in keys):
            raise ValueError("operations keys must be at least 16 characters long")
        return keys


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    environment: Literal["development", "production"] = "development"
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    api: ApiSettings = ApiSettings()
    encryption: EncryptionSettings = EncryptionSettings()
    directo: DirectoSettings = DirectoSettings()
    webhooks: WebhookSettings = WebhookSettings()
    sync: SyncSettings = SyncSettings()
    statistics: StatisticsSettings = StatisticsSettings()
    log: LogSettings = LogSettings()
    worker: WorkerSettings = WorkerSettings()
    call_log: CallLogSettings = CallLogSettings()
    ops: OpsSettings = OpsSettings()

    @model_validator(mode="after")
    def _no_dev_secrets(self) -> Settings:
        if self.environment != "production":
            return self
        if any(key.get_secret_value() == DEV_API_KEY for key in self.api.keys):
            raise ValueError("production refuses the development API key: set GATEWAY_API__KEYS")
        if any(key.get_secret_value() == DEV_ENCRYPTION_KEY for key in self.encryption.keys):
            raise ValueError(
                "production refuses the development encryption key: set GATEWAY_ENCRYPTION__KEYS"
            )
        if any(key.get_secret_value() == DEV_OPS_KEY for key in self.ops.keys):
            raise ValueError(
                "production refuses the development operations key: set GATEWAY_OPS__KEYS"
            )
        return self

    @model_validator(mode="after")
    def _ops_keys_apart(self) -> Settings:
        """An operations key opens the console, an API key the API: one value must not do both."""
        api_keys = {key.get_secret_value() for key in self.api.keys}
        if any(key.get_secret_value() in api_keys for key in self.ops.keys):
            raise ValueError("an operations key must differ from every API key")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings()
