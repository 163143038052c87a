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
from services.kernel.clock import Clock, local_date

METHODS = ("get", "post", "put", "patch", "delete")


def action_of(path: str, method: str) -> str | None:
    """The lifecycle action an operation's body belongs to: `report` or the action route's name."""
    if method == "post" and path == "/api/v1/hazards":
        return "report"
    if method == "post" and "/actions/" in path:
        return path.rsplit("/", 1)[-1]
    return None


def refresh(doc: dict[str, Any], fresh: dict[str, dict]) -> None:
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            action = action_of(path, method)
            if action not in fresh or method not in item:
                continue
            content = item[method].get("requestBody", {}).get("content", {}).get("application/json", {})
            for example in content.get("examples", {}).values():
                example["value"] = fresh[action]
                if action in body_examples.EXAMPLE_NOTES:
                    example["description"] = body_examples.EXAMPLE_NOTES[action]


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
            built.update(day=today, doc=doc)
        return built["doc"]

    app.openapi = openapi  # type: ignore[method-assign]
