"""The README's state diagram is generated from the lifecycle table; this fails when it is stale."""

from __future__ import annotations

import re
from pathlib import Path

from services.lifecycle.table import mermaid
from services.tasks.lifecycle import mermaid as task_mermaid

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_diagram_matches_lifecycle_table():
    text = README.read_text(encoding="utf-8")
    match = re.search(
        r"<!-- lifecycle-diagram:start -->\n```mermaid\n(.*?)\n```\n<!-- lifecycle-diagram:end -->", text, re.S
    )
    assert match, "README lacks the lifecycle diagram block"
    assert match.group(1) == mermaid(), (
        "README diagram is stale: replace it with the output of `uv run python -m services.lifecycle.table`"
    )


def test_readme_task_diagram_matches_task_lifecycle_table():
    text = README.read_text(encoding="utf-8")
    match = re.search(
        r"<!-- task-lifecycle-diagram:start -->\n```mermaid\n(.*?)\n```\n<!-- task-lifecycle-diagram:end -->", text, re.S
    )
    assert match, "README lacks the task lifecycle diagram block"
    assert match.group(1) == task_mermaid(), (
        "README task diagram is stale: replace it with the output of `uv run python -m services.tasks.lifecycle`"
    )


def test_readme_names_the_test_command_ci_runs():
    ci = (README.parent / ".ci" / "run").read_text()
    assert "scripts/test.sh" in ci
    assert "sh scripts/test.sh" in README.read_text(encoding="utf-8")
