"""The one settings object (environment prefix `HAZARD_`)."""

from __future__ import annotations

import ipaddress
import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_SECRET = "dev-only-secret-change-me"


class WebhookSubscription(BaseModel):
    """A receiver of notifications by HTTP POST (services/notify/channels.py). `kinds` are outbox
    kinds or shell-style patterns (`escalation`, `notify.*`, `*`). Deliveries name the subscription,
    so its URL and secret are read when sending: a rotated secret applies to what is still queued."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,100}$")  # ASCII: it travels in an HTTP header
    url: str = Field(pattern=r"^https?://")
    secret: SecretStr
    kinds: list[str] = ["*"]

    @field_validator("secret")
    @classmethod
    def _secret_not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("a webhook needs a secret to sign its deliveries")
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HAZARD_", env_file=".env", extra="ignore")

    environment: str = "development"
    database_url: str = "sqlite:///./var/hazard.db"
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    data_dir: Path = Path("./var")
    db_pool_size: int = 10
    db_max_overflow: int = 40

    max_attachment_bytes: int = 20 * 1024 * 1024
    public_reports_per_hour: int = 5
    # Tracking-code lookups (`/track`, GET /api/v1/public/reports/{code}) per client and hour.
    public_lookups_per_hour: int = Field(60, ge=1)
    # Proxies whose X-Forwarded-For is believed (IPs or CIDRs, JSON list or comma-separated). Empty:
    # the client is the TCP peer, and X-Forwarded-For is ignored (uvicorn's own trust is off).
    trusted_proxies: Annotated[list[str], NoDecode] = []
    # Stored answers of requests with an Idempotency-Key are purged after this (flow `housekeeping`).
    idempotency_retention_days: float = Field(7.0, gt=0)
    # GET /metrics: open to anyone when true; otherwise it needs this token (Bearer) or an admin's.
    metrics_public: bool = False
    metrics_token: SecretStr | None = None
    extension_min_working_days: int = 15
    # 直报 (services/reports/submission.py): a county's month is due this many working days before
    # the month's last working day (0: on it; a city's 3 working days later); submitting opens then.
    report_deadline_workdays_before_month_end: int = Field(0, ge=0, le=15)
    # Working-day arrangements the calendar package does not know yet (services/calendar/workdays.py).
    calendar_overrides: Path | None = None
    # The escalation ladder of this deployment ([ladder] in TOML; services/escalation/ladder.py).
    escalation_config: Path | None = None
    # The Prefect server's own database for `hazard serve` (postgresql+asyncpg://...); unset: a
    # SQLite file under data_dir/prefect.
    prefect_database_url: SecretStr | None = None
    # The served Prefect's API on this many processes (README "Prefect on several processes"): more than
    # one needs the PostgreSQL database above and a Redis for Prefect's messaging (the URL below, a
    # database of its own); its background services then run in one process beside them.
    prefect_workers: int = Field(1, ge=1, le=16)
    prefect_redis_url: SecretStr | None = None
    # What the served Prefect keeps (README "Prefect: each hazard's run"): its events (a hazard's
    # transitions among them) this many days, so a year-long lifecycle keeps its events (Prefect's
    # default is 7); finished flow runs (batch runs, closed items' runs) this many days after they
    # end. Open items' runs are never deleted; `hazard prefect resync` rebuilds any run.
    prefect_events_retention_days: int = Field(400, ge=7, le=3650)
    prefect_flow_run_retention_days: int = Field(90, ge=1, le=3650)
    # Prefect automations (its triggers service) in the served Prefect: off, since the service uses
    # none and the service evaluates every event, each of the lifecycle mirror's state changes
    # among them (about a third of the served Prefect's CPU per state change, bench/RESULTS.md).
    prefect_automations: bool = False
    # PostgreSQL with two roles (README "PostgreSQL in production"): `hazard db upgrade` migrates as
    # the tables' owner through this URL and grants the role of `database_url` what it needs.
    migration_database_url: str | None = None
    # The audit trail's evidence outside the database (services/audit/checkpoints.py). Unset: under
    # data_dir/audit. The log is a string, not a Path: a trailing "/" means one file per checkpoint.
    audit_signing_key: Path | None = None
    audit_verify_key: Path | None = None
    audit_checkpoint_log: str | None = None
    audit_checkpoint_interval_seconds: float = Field(3600.0, gt=0)
    token_cache_seconds: float = 5.0
    # Web UI cookies only over HTTPS (set behind a TLS-terminating proxy; https requests always are).
    web_secure_cookies: bool = False
    log_level: str = "INFO"

    # Notifications (services/outbox/deliver.py): e-mail is sent only when a host is set.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "hazard@localhost"
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # HAZARD_WEBHOOKS: a JSON list of {"name", "url", "secret", "kinds"}.
    webhooks: list[WebhookSubscription] = []
    delivery_max_attempts: int = Field(6, ge=1)
    delivery_backoff_seconds: float = Field(30.0, ge=0)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item, strict=False)  # raises ValueError with the bad entry
        return value

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> "Settings":
        if self.environment != "development" and self.secret_key.get_secret_value() == DEV_SECRET:
            raise ValueError(
                "HAZARD_SECRET_KEY must be set outside development (the default secret is refused)"
            )
        return self

    @model_validator(mode="after")
    def _unique_webhook_names(self) -> "Settings":
        names = [w.name for w in self.webhooks]
        if len(names) != len(set(names)):
            raise ValueError("HAZARD_WEBHOOKS: each webhook needs a name of its own")
        return self

    def webhook(self, name: str) -> WebhookSubscription | None:
        return next((w for w in self.webhooks if w.name == name), None)

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"

    @property
    def audit_signing_key_path(self) -> Path:
        return self.audit_signing_key or self.data_dir / "audit" / "signing.key"

    @property
    def audit_checkpoint_log_target(self) -> str:
        return self.audit_checkpoint_log or str(self.data_dir / "audit" / "checkpoints.jsonl")


@lru_cache
def get_settings() -> Settings:
    return Settings()
