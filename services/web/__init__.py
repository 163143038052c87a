"""The server-rendered web UI (zh-CN), mounted in the API's FastAPI app.

`router` holds every page router; `mount_static(app)` serves /static and installs the UI's HTML
error answers (login redirect, CSRF 403, error pages).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from services.web import (audit_pages, auth_pages, dashboard_pages, errors, ledger_pages, new_hazard, pages,
                          public_pages, session)

STATIC_DIR = Path(__file__).parent / "static"

router = APIRouter(include_in_schema=False)
# new_hazard before pages: `/hazards/new` is not a hazard id.
for _module in (auth_pages, new_hazard, pages, public_pages, ledger_pages, dashboard_pages, audit_pages):
    router.include_router(_module.router)


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    errors.install(app)
    session.prepare_dummy_hash()  # the first login with an unknown name costs one hash, like any


__all__ = ["router", "mount_static"]
