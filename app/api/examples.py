"""The request examples of the OpenAPI document, dated from today.

The routes declare their examples once, at import (`services.lifecycle.body_examples.EXAMPLES`); a deadline or a
review date written there would, some day, be in the past or in the future and the example refused.
So the served document is built once per day of the app's clock, with every action's example
replaced by `services.lifecycle.body_examples.examples(today)` and its note on where ids come from. What must hold:
every example works, as is, against the data `hazard demo` loads (tests/app/api/test_openapi_examples.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.lifecycle import body_examples
from services.tasks import body_examples as task_examples
from services.kernel.clock import Clock, local_date

METHODS = ("get", "post", "put", "patch", "delete")


def action_of(path: str, method: str) -> str | None:
    """The lifecycle action an operation's body belongs to: `report` or the action route's name."""
    if method == "post" and path == "/api/v1/hazards":
        return "report"
    if method == "post" and path.startswith("/api/v1/hazards/") and "/actions/" in path:
        return path.rsplit("/", 1)[-1]
    return None


def task_action_of(path: str, method: str) -> str | None:
    """The task lifecycle action of an operation (`POST /api/v1/tasks/{id}/actions/<action>`)."""
    if method == "post" and path.startswith("/api/v1/tasks/") and "/actions/" in path:
        return path.rsplit("/", 1)[-1]
    return None


def refresh(doc: dict[str, Any], fresh: dict[str, dict], *, of=action_of,
            notes: dict[str, str] = body_examples.EXAMPLE_NOTES) -> None:
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            action = of(path, method)
            if action not in fresh or method not in item:
                continue
            content = item[method].get("requestBody", {}).get("content", {}).get("application/json", {})
            for example in content.get("examples", {}).values():
                example["value"] = fresh[action]
                if action in notes:
                    example["description"] = notes[action]


def install(app: FastAPI, clock: Clock) -> None:
    """Serve the document through `refresh`, rebuilt when the app's day changes."""
    generate = app.openapi
    built: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        today = local_date(clock())
        if built.get("day") != today:
            app.openapi_schema = None  # FastAPI's own cache: build afresh
            doc = generate()
            refresh(doc, body_examples.examples(today))
            refresh(doc, task_examples.examples(today), of=task_action_of, notes=task_examples.EXAMPLE_NOTES)
            built.update(day=today, doc=doc)
        return built["doc"]

    app.openapi = openapi  # type: ignore[method-assign]
