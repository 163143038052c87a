"""The one settings object (environment prefix `HAZARD_`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    extension_min_working_days: int = 15
    # Working-day arrangements the calendar package does not know yet (services/calendar.py).
    calendar_overrides: Path | None = None
    # The escalation ladder of this deployment ([ladder] in TOML; services/escalation.py).
    escalation_config: Path | None = None
    # The Prefect server's own database for `hazard serve` (postgresql+asyncpg://...); unset: a
    # SQLite file under data_dir/prefect.
    prefect_database_url: SecretStr | None = None
    token_cache_seconds: float = 5.0
    # Web UI cookies only over HTTPS (set behind a TLS-terminating proxy; https requests always are).
    web_secure_cookies: bool = False
    log_level: str = "INFO"

    # Notifications (services/outbox.py): e-mail is sent only when a host is set.
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


@lru_cache
def get_settings() -> Settings:
    return Settings()
