"""The public 举报 form and the tracking-code lookup: no login.

The report goes through the same service as `POST /api/v1/public/reports` (validation, the
per-address hourly limit, the tracking code); the lookup shows the state only, nothing internal.
The form is CSRF-protected with the pre-session double-submit token of the login form.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from db.engine import read_only
from services.engine import commands
from services.reads import directory
from services.reads.models import PublicReceipt
from app.api.client import client_ip
from services.kernel.inputs import form_text
from services.kernel.errors import Invalid, NotFound, RateLimited
from services.kernel.vocab import INDUSTRIES
from app.web import csrf
from app.web.render import render

router = APIRouter()

FIELDS = ("title", "description", "location", "region_code", "industry", "enterprise_name", "contact")


def _regions(request: Request) -> list[directory.Named]:
    with read_only(request.app.state.ctx.factory) as session:
        return directory.regions(session)


def _form_page(request: Request, *, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
               message: str | None = None, status: int = 200) -> Response:
    token = csrf.login_csrf(request)
    response = render(request, "web/report.html", status=status, form_csrf=token,
                      region_choices=[(r.code, r.label) for r in _regions(request)],
                      industry_choices=[(i, i) for i in INDUSTRIES], values=values or {}, errors=errors or {},
                      message=message)
    csrf.set_login_csrf_cookie(request, response, token)
    return response


@router.get("/report")
def report_form(request: Request) -> Response:
    return _form_page(request)


def _submit(request: Request, values: dict[str, str]) -> PublicReceipt:
    ctx = request.app.state.ctx
    data = {k: v for k, v in values.items() if v}
    with ctx.uow.write() as session:
        return commands.public_report(session, ctx.settings, data, client=client_ip(request), now=ctx.now())


@router.post("/report")
async def report_submit(request: Request) -> Response:
    form = await request.form()
    raw = form.get("csrf_token")
    csrf.check_login_csrf(request, raw if isinstance(raw, str) else "")
    values = {k: form_text(form.get(k)) for k in FIELDS}
    try:
        receipt = await run_in_threadpool(_submit, request, values)
    except Invalid as exc:
        errors = {}
        for d in exc.details or []:
            field = str(d.get("field", "")).split(".")[0]
            errors.setdefault(field if field in FIELDS else "_", d["message"])
        return _form_page(request, values=values, errors=errors, message=exc.message, status=422)
    except RateLimited as exc:
        return _form_page(request, values=values, message=exc.message, status=429)
    return render(request, "web/report_done.html", status=201, receipt=receipt)


@router.get("/track")
def track(request: Request, code: str = "") -> Response:
    code = code.strip()[:32]
    if not code:
        return render(request, "web/track.html", code="", result=None, error=None)
    ctx = request.app.state.ctx
    try:
        with ctx.uow.write() as session:  # committed on its own: a lookup of an unknown code counts too
            commands.count_status_lookup(session, ctx.settings, client=client_ip(request), now=ctx.now())
        with ctx.uow.read() as session:
            result = commands.public_status(session, code)
    except NotFound:
        return render(request, "web/track.html", status=404, code=code, result=None,
                      error="未找到该查询码对应的举报，请核对后重试。")
    except RateLimited as exc:
        response = render(request, "web/track.html", status=429, code=code, result=None, error=exc.message)
        response.headers["Retry-After"] = str(exc.details["retry_after"])
        return response
    return render(request, "web/track.html", code=code, result=result, error=None)
