"""Opening an .xlsx in real LibreOffice Calc, as a person would, and reading back what it shows.

`shown(content, tmp_path)` converts the workbook's first sheet to CSV with headless soffice: a cell
Calc takes for a formula shows its computed value there (`=1+1` → `2`), a text cell its text. Each
call has its own LibreOffice profile under tmp_path (parallel runs never share one) and a timeout.
A missing soffice fails the test: `sh scripts/system-packages.sh --browser` installs it.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pytest

TIMEOUT = 120
# Text CSV filter: comma, double quote, UTF-8 (76), start at line 1.
CSV_FILTER = "csv:Text - txt - csv (StarCalc):44,34,76,1"


def soffice() -> str:
    path = shutil.which("soffice")
    if path is None:
        pytest.fail("LibreOffice (soffice) is not installed: run `sh scripts/system-packages.sh --browser`")
    return path


def shown(content: bytes, tmp_path: Path, name: str = "book") -> list[list[str]]:
    """The first sheet of the .xlsx `content` as LibreOffice Calc displays it, row by row."""
    work = tmp_path / f"calc-{name}"
    work.mkdir()
    source = work / f"{name}.xlsx"
    source.write_bytes(content)
    profile = work / "profile"
    result = subprocess.run(
        [soffice(), f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
         "--convert-to", CSV_FILTER, "--outdir", str(work / "out"), str(source)],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )
    out = work / "out" / f"{name}.csv"
    assert result.returncode == 0 and out.exists(), (
        f"soffice did not convert the workbook (rc={result.returncode}): {result.stdout}\n{result.stderr}")
    with out.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))
