"""企业自查 pages: `/self-inspections` (an enterprise: the month's return form and its past returns; a
government reader: the month's filing status of the enterprises in scope, with a month and region
picker and a 未报送 filter), `/self-inspections/{id}` (a return, with the 立查立改 form while its
month is open). Thin: every rule is services/inspections (the same refusals as the API)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from app.api.deps import Db, ReadDb
from app.web.csrf import CsrfChecked
from app.web.errors import ErrorPage
from app.web.forms import PostedForm
from app.web.render import flash, render
from app.web.session import WebUser
from services.inspections import reads, returns, spot_fixes, window
from services.kernel import regions as region_codes
from services.kernel.clock import local_date
from services.kernel.errors import Forbidden, Invalid, NotFound
from services.kernel.inputs import ascii_id, form_text
from services.lifecycle.roles import Role
from services.calendar.workdays import default_calendar
from services.reads.directory import regions

router = APIRouter()
FIELDS = ("month", "checked_from", "checked_to", "scope", "principal")
HAZARD_ROWS = 3  # hazards typed on the page at once (an amendment adds more)
HAZARD_FIELDS = ("title", "description", "location")
FIX_FIELDS = ("description", "location", "measures", "fixed_on")


def _ctx(request: Request):
    return request.app.state.ctx


def _errors(exc: Invalid) -> dict[str, str]:
    errors: dict[str, str] = {}
    for d in exc.details or []:
        errors.setdefault(str(d.get("field", "_")), str(d.get("message", exc.message)))
    return errors


def _enterprise_page(request: Request, db, user, values: dict[str, Any], errors: dict[str, str],
                     status: int = 200) -> Response:
    today = local_date(_ctx(request).now())
    own = reads.list_view(db, user, month=None, region=None, today=today)
    return render(request, "web/self_inspections.html", status=status, mode="enterprise", values=values,
                  errors=errors, months=window.open_months(today, default_calendar()), own=own,
                  hazard_rows=range(HAZARD_ROWS), status_list=None)


def _defaults(request: Request, db, user) -> dict[str, Any]:
    """This month's return as filed, or an empty form for it."""
    today = local_date(_ctx(request).now())
    month = window.month_of(today)
    own = reads.list_view(db, user, month=month, region=None, today=today)
    if own.rows:
        filed = reads.get_view(db, user, own.rows[0].return_id or 0, now=_ctx(request).now())
        return {"month": month, "checked_from": filed.checked_from, "checked_to": filed.checked_to,
                "scope": filed.scope, "principal": filed.principal, "nil_return": filed.nil_return}
    return {"month": month, "checked_from": f"{month}-01", "checked_to": today.isoformat(), "nil_return": False}


@router.get("/self-inspections")
def inspections_page(request: Request, user: WebUser, db: ReadDb, month: str = "", region: str = "",
                     missing: str = "") -> Response:
    if user.role == Role.ENTERPRISE:
        return _enterprise_page(request, db, user, _defaults(request, db, user), {})
    if user.role not in reads.READERS:
        raise ErrorPage(403, "无权查看", "企业自查情况供监管部门、安委办和审计人员查看。")
    today = local_date(_ctx(request).now())
    values = {"month": month or window.month_of(today), "region": region or user.region_code, "missing": missing == "1"}
    choices = [(r.code, r.name) for r in regions(db, region_codes.scope_prefix(user.region_code)) if len(r.code) == 6]
    try:
        result = reads.list_view(db, user, month=values["month"], region=values["region"],
                                 missing=values["missing"], today=today)
    except (Invalid, Forbidden) as exc:
        errors = _errors(exc) if isinstance(exc, Invalid) else {"region": exc.message}
        return render(request, "web/self_inspections.html", status=422 if isinstance(exc, Invalid) else 403,
                      mode="government", values=values, errors=errors, region_choices=choices, status_list=None)
    return render(request, "web/self_inspections.html", mode="government", values=values, errors={},
                  region_choices=choices, status_list=result)


def _body(form) -> tuple[dict[str, Any], dict[str, Any]]:
    values: dict[str, Any] = {k: form_text(form.get(k)) for k in FIELDS}
    values["nil_return"] = form.get("nil_return") in ("on", "1", "true")
    body: dict[str, Any] = {k: v for k, v in values.items() if v != ""}
    hazards = []
    for i in range(HAZARD_ROWS):
        row = {f: form_text(form.get(f"hazards.{i}.{f}")) for f in HAZARD_FIELDS}
        values.update({f"hazards.{i}.{f}": v for f, v in row.items()})
        if any(row.values()):
            hazards.append({f: v for f, v in row.items() if v})
    body["hazards"] = hazards
    return body, values


@router.post("/self-inspections")
def file_return(request: Request, user: WebUser, _: CsrfChecked, form: PostedForm, db: Db) -> Response:
    if user.role != Role.ENTERPRISE:
        raise ErrorPage(403, "无权报送", "只有企业用户可以报送本企业的自查报告。")
    body, values = _body(form)
    try:
        with db.begin_nested():  # a refusal rolls back what was written before it
            return_id = returns.file_return(db, user, body, now=_ctx(request).now())
    except Invalid as exc:
        return _enterprise_page(request, db, user, values, _errors(exc), status=422)
    response = RedirectResponse(f"/self-inspections/{return_id}", status_code=303)
    flash(request, response, f"已报送 {body.get('month', '')} 企业自查报告")
    return response


def _return_id(value: str) -> int:
    found = ascii_id(value)
    if found is None:
        raise ErrorPage(404, "页面不存在", reads.NOT_FOUND)
    return found


def _detail(request: Request, db, user, return_id: int, values: dict[str, Any], errors: dict[str, str],
            status: int = 200) -> Response:
    try:
        view = reads.get_view(db, user, return_id, now=_ctx(request).now())
    except NotFound:
        raise ErrorPage(404, "页面不存在", reads.NOT_FOUND) from None
    return render(request, "web/self_inspection.html", status=status, item=view, values=values, errors=errors,
                  can_fix=user.role == Role.ENTERPRISE and view.amendable)


@router.get("/self-inspections/{return_id}")
def inspection_page(request: Request, user: WebUser, return_id: str, db: ReadDb) -> Response:
    return _detail(request, db, user, _return_id(return_id), {}, {})


@router.post("/self-inspections/{return_id}/spot-fixes")
def spot_fix(request: Request, user: WebUser, return_id: str, _: CsrfChecked, form: PostedForm, db: ReadDb) -> Response:
    rid = _return_id(return_id)
    values = {k: form_text(form.get(k)) for k in FIX_FIELDS}
    upload = form.get("evidence")
    ctx = _ctx(request)
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise Invalid("请上传整改证据", details=[{"field": "file", "message": "请上传一份整改证据（图片或 PDF）"}])
        spot_fixes.record(ctx.uow, user, rid, {k: v for k, v in values.items() if v}, filename=upload.filename,
                          stream=upload.file, root=ctx.settings.attachments_dir,
                          max_bytes=ctx.settings.max_attachment_bytes, now=ctx.now())
    except Invalid as exc:
        return _detail(request, db, user, rid, values, _errors(exc), status=422)
    except NotFound:
        raise ErrorPage(404, "页面不存在", reads.NOT_FOUND) from None
    except Forbidden as exc:
        raise ErrorPage(403, "无权操作", exc.message) from None
    response = RedirectResponse(f"/self-inspections/{rid}", status_code=303)
    flash(request, response, "已记录立查立改")
    return response
