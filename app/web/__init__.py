"""The server-rendered web UI (zh-CN), mounted in the API's FastAPI app.

`router` holds every page router; `mount_static(app)` serves /static and installs the UI's HTML
error answers (login redirect, CSRF 403, error pages).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from app.web import (audit_pages, auth_pages, dashboard_pages, errors, ledger_pages, message_pages,
                          new_hazard, pages, public_pages, report_pages, session)
from app.web import admin_pages
from app.web import blacklist_pages, enterprise_pages
from app.web import accountability_pages, bulletin_pages
from app.web import inspection_pages
from app.web import plan_pages
from app.web import task_pages

STATIC_DIR = Path(__file__).parent / "static"

router = APIRouter(include_in_schema=False)
# new_hazard before pages: `/hazards/new` is not a hazard id.
for _module in (auth_pages, new_hazard, pages, public_pages, ledger_pages, dashboard_pages, audit_pages,
                message_pages, admin_pages, report_pages, bulletin_pages, accountability_pages, inspection_pages, enterprise_pages,
                blacklist_pages, plan_pages, task_pages):
    router.include_router(_module.router)


def _favicon() -> FileResponse:
    return FileResponse(STATIC_DIR / "favicon.ico", media_type="image/x-icon",
                        headers={"Cache-Control": "public, max-age=86400"})


def mount_static(app: FastAPI) -> None:
    # Every browser asks for /favicon.ico: a safety-yellow warning sign, not a 404 in the logs.
    app.add_api_route("/favicon.ico", _favicon, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    errors.install(app)
    session.prepare_dummy_hash()  # the first login with an unknown name costs one hash, like any


__all__ = ["router", "mount_static"]
