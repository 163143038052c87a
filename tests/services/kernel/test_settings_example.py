"""deploy/hazard.env.example is a working production example: every line is a known setting and
the file loads as it would from a service's env file."""

from __future__ import annotations

from pathlib import Path

from services.kernel.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "hazard.env.example"


def test_every_variable_is_a_setting():
    names = [line.split("=", 1)[0] for line in EXAMPLE.read_text(encoding="utf-8").splitlines()
             if line and not line.startswith("#")]
    fields = {f"HAZARD_{name.upper()}" for name in Settings.model_fields}
    assert names and set(names) <= fields, set(names) - fields


def test_the_example_loads(monkeypatch):
    for key in [k for k in __import__("os").environ if k.startswith("HAZARD_")]:
        monkeypatch.delenv(key)
    s = Settings(_env_file=EXAMPLE)
    assert s.environment == "production" and s.database_url.startswith("postgresql")
    assert s.webhooks[0].name == "city-dashboard" and "alert.*" in s.webhooks[0].kinds
    assert s.smtp_starttls is True and s.prefect_database_url is not None
    # two PostgreSQL roles, and the audit evidence outside the database (a folder of files)
    assert s.migration_database_url and "hazard_owner" in s.migration_database_url
    assert s.audit_checkpoint_log_target.endswith("/") and s.audit_signing_key_path.is_absolute()
    # who the client is behind the proxy, and the scraper's token (issue 10)
    assert s.trusted_proxies == ["10.0.0.10", "10.0.0.11"] and s.metrics_token is not None


def test_the_embedded_default_example_is_the_default(monkeypatch):
    """.env.example at the root (issue 11 item 6) spells out the embedded default: loading it gives
    the same settings as loading nothing."""
    root_example = EXAMPLE.parents[1] / ".env.example"
    for key in [k for k in __import__("os").environ if k.startswith("HAZARD_")]:
        monkeypatch.delenv(key)
    names = [line.split("=", 1)[0] for line in root_example.read_text(encoding="utf-8").splitlines()
             if line and not line.startswith("#")]
    assert names and set(names) <= {f"HAZARD_{n.upper()}" for n in Settings.model_fields}
    assert Settings(_env_file=root_example) == Settings(_env_file=None)
