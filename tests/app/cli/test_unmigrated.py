"""A command run against a database that was never migrated says what to do, not a traceback."""

from __future__ import annotations

import pytest

from app.cli import main as cli
from services.kernel.settings import get_settings


@pytest.mark.parametrize("argv", [("audit", "verify"), ("orgs", "list", "--region", "141100")])
def test_an_empty_database_asks_for_db_upgrade(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.setenv("HAZARD_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    try:
        code = cli.main(list(argv))
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert code == 2 and "hazard db upgrade" in err and "Traceback" not in err
