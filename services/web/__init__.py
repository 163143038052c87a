"""The server-rendered web UI (zh-CN), mounted in the API's FastAPI app.

`router` holds every page router; `mount_static(app)` serves /static and installs the UI's HTML
error answers (login redirect, CSRF 403, error pages). Page modules written alongside this package
(ledger, dashboard, audit) are included when present, so each can land on its own.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from services.web import auth_pages, errors, pages, public_pages

STATIC_DIR = Path(__file__).parent / "static"
_OPTIONAL_PAGES = ("ledger_pages", "dashboard_pages", "audit_pages")

router = APIRouter(include_in_schema=False)
for _module in (auth_pages, pages, public_pages):
    router.include_router(_module.router)
for _name in _OPTIONAL_PAGES:
    try:
        _module = importlib.import_module(f"services.web.{_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"services.web.{_name}":
            raise
        continue
    router.include_router(_module.router)


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    errors.install(app)


__all__ = ["router", "mount_static"]
