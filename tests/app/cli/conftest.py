"""The `hazard` command line run in-process against the test database: `run(*argv)` answers
(exit code, stdout, stderr)."""

from __future__ import annotations

import pytest

from app.cli import main as cli
from services.kernel.settings import get_settings


@pytest.fixture
def run(db_url, monkeypatch, capsys):
    monkeypatch.setenv("HAZARD_DATABASE_URL", db_url)
    get_settings.cache_clear()

    def _run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    yield _run
    get_settings.cache_clear()
