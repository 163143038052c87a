"""The public 举报 form and the tracking-code lookup: no login.

The report goes through the same service as `POST /api/v1/public/reports` (validation, the
per-address hourly limit, the tracking code); the lookup shows the state only, nothing internal.
The form is CSRF-protected with the pre-session double-submit token of the login form.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app.api.deps import Ctx, Db, ReadDb
from services.bulletins import exposure
from services.engine import commands
from services.reads import directory
from app.api.client import client_ip
from services.kernel.inputs import form_text
from services.kernel.errors import Invalid, NotFound, RateLimited
from services.kernel.vocab import INDUSTRIES
from app.web import csrf
from app.web.forms import PostedForm
from app.web.render import render

router = APIRouter()

FIELDS = ("title", "description", "location", "region_code", "industry", "enterprise_name", "contact")


def _form_page(request: Request, session: Session, *, values: dict[str, str] | None = None,
               errors: dict[str, str] | None = None, message: str | None = None, status: int = 200) -> Response:
    token = csrf.login_csrf(request)
    response = render(request, "web/report.html", status=status, form_csrf=token,
                      region_choices=[(r.code, r.label) for r in directory.regions(session)],
                      industry_choices=[(i, i) for i in INDUSTRIES], values=values or {}, errors=errors or {},
                      message=message)
    csrf.set_login_csrf_cookie(request, response, token)
    return response


@router.get("/report")
def report_form(request: Request, db: ReadDb) -> Response:
    return _form_page(request, db)


@router.post("/report")
def report_submit(request: Request, form: PostedForm, db: Db) -> Response:
    raw = form.get("csrf_token")
    csrf.check_login_csrf(request, raw if isinstance(raw, str) else "")
    values = {k: form_text(form.get(k)) for k in FIELDS}
    ctx = request.app.state.ctx
    data = {k: v for k, v in values.items() if v}
    try:
        with db.begin_nested():  # a refusal rolls its writes back before the form shows it
            receipt = commands.public_report(db, ctx.settings, data, client=client_ip(request), now=ctx.now())
    except Invalid as exc:
        errors = {}
        for d in exc.details or []:
            field = str(d.get("field", "")).split(".")[0]
            errors.setdefault(field if field in FIELDS else "_", d["message"])
        return _form_page(request, db, values=values, errors=errors, message=exc.message, status=422)
    except RateLimited as exc:
        return _form_page(request, db, values=values, message=exc.message, status=429)
    return render(request, "web/report_done.html", status=201, receipt=receipt)


async def count_lookup(ctx: Ctx, request: Request, code: str = "") -> RateLimited | None:
    """Every lookup of a code counts against the client's hourly limit, whatever it finds: in a
    unit of work of its own, committed before the lookup runs (as app/api/routers/public.py's
    `count_lookup`). Returns the refusal past the limit, for the page to show; an empty form
    (no code) is not a lookup and is not counted."""
    if not code.strip():
        return None

    def count() -> RateLimited | None:
        try:
            with ctx.uow.write() as session:  # its own unit: a lookup of an unknown code counts too
                commands.count_status_lookup(session, ctx.settings, client=client_ip(request), now=ctx.now())
        except RateLimited as exc:
            return exc
        return None

    return await run_in_threadpool(count)


@router.get("/track")
def track(request: Request, refused: Annotated[RateLimited | None, Depends(count_lookup)], db: ReadDb,
          code: str = "") -> Response:
    code = code.strip()[:32]
    if not code:
        return render(request, "web/track.html", code="", result=None, error=None)
    if refused is not None:
        response = render(request, "web/track.html", status=429, code=code, result=None, error=refused.message)
        response.headers["Retry-After"] = str(refused.details["retry_after"])
        return response
    try:
        result = commands.public_status(db, code)
    except NotFound:
        return render(request, "web/track.html", status=404, code=code, result=None,
                      error="未找到该查询码对应的举报，请核对后重试。")
    return render(request, "web/track.html", code=code, result=result, error=None)


@router.get("/public/exposure")
def exposure_page(request: Request, db: ReadDb, page: str = "1") -> Response:
    """曝光 (no login): listed major hazards and recent closures; any `page` is a page, never an error."""
    result = exposure.exposure(db, now=request.app.state.ctx.now(), page=exposure.parse_page(page))
    return render(request, "web/public_exposure.html", result=result)
