"""The layers hold (pyproject's [tool.importlinter], ARCHITECTURE.md): `lint-imports` keeps every
contract, so an arrow the wrong way (the domain importing FastAPI, db/ importing the domain, a
flow importing the web UI) fails the build."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    return subprocess.run([exe, "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_every_import_contract_is_kept():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["importlinter"]["contracts"]
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(contracts)} kept, 0 broken." in result.stdout


def test_a_wrong_arrow_breaks_the_build(tmp_path):
    """The contracts bite: a copy of the tree where db/ imports the domain is refused."""
    for name in ("app", "flows", "services", "db"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "db" / "wrong_way.py").write_text("from services.kernel import clock  # noqa: F401\n")
    result = _lint(tmp_path)
    assert result.returncode != 0 and "db is not allowed to import services" in result.stdout.replace("\n", " ")
