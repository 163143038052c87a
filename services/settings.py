"""The one settings object (environment prefix `HAZARD_`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-secret-change-me"


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
    token_cache_seconds: float = 5.0
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> "Settings":
        if self.environment != "development" and self.secret_key.get_secret_value() == DEV_SECRET:
            raise ValueError(
                "HAZARD_SECRET_KEY must be set outside development (the default secret is refused)"
            )
        return self

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"


@lru_cache
def get_settings() -> Settings:
    return Settings()
