"""一张表 pages: `/enterprises` (the enterprises a government reader oversees, with their 行业主管部门,
监管责任人, open hazards, 黑名单 status and this month's return; filters 无主管部门, industry,
黑名单, name) and `/enterprises/{id}` (its hazards, returns, 黑名单 decisions and history).
Thin: parse, call services/reads/enterprises.py, render."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.deps import ReadDb
from app.web.render import render
from app.web.session import WebUser
from services.kernel.clock import local_date
from services.kernel.errors import Forbidden, Invalid, NotFound
from services.kernel.inputs import ascii_id
from services.kernel.vocab import INDUSTRIES
from services.reads import enterprises

router = APIRouter()
_FIELDS = ("unassigned", "industry", "blacklisted", "q", "page")


def _refused(request: Request) -> Response:
    return render(request, "web/error.html", status=403, title="无权查看企业一张表",
                  message="企业一张表供安委办、监管部门和审计人员查看。")


def _not_found(request: Request) -> Response:
    return render(request, "web/error.html", status=404, title="未找到该企业", message="企业不存在或不在您的管辖范围内。")


@router.get("/enterprises")
def enterprises_page(request: Request, user: WebUser, db: ReadDb) -> Response:
    if user.role not in enterprises.GOVERNMENT:
        return _refused(request)
    form = {k: request.query_params.get(k, "")[:200] for k in _FIELDS}
    listed = {"1": True, "0": False}.get(form["blacklisted"])
    page = ascii_id(form["page"]) if form["page"] else 1
    errors: dict[str, str] = {}
    if form["blacklisted"] and listed is None:
        errors["blacklisted"] = "黑名单筛选应为 1（仅黑名单企业）或 0（排除黑名单企业）"
    if page is None or page > 1_000_000:
        errors["page"] = "页码应为正整数"
    result = None
    if not errors:
        try:
            result = enterprises.list_view(db, user, now=request.app.state.ctx.now(),
                                           unassigned=form["unassigned"] == "1", industry=form["industry"] or None,
                                           blacklisted=listed, q=form["q"] or None, page=page or 1)
        except Invalid as exc:
            errors = {d["field"]: d["message"] for d in (exc.details or [])}
        except Forbidden:
            return _refused(request)
    params = {k: v for k, v in form.items() if v and k != "page"}

    def page_link(n: int) -> str:
        return "/enterprises?" + urlencode({**params, "page": n})
    return render(request, "web/enterprises.html", status=400 if errors else 200, form=form, errors=errors,
                  result=result, industries=INDUSTRIES, page_link=page_link)


@router.get("/enterprises/{enterprise_id}")
def enterprise_page(request: Request, user: WebUser, enterprise_id: str, db: ReadDb) -> Response:
    ident = ascii_id(enterprise_id)
    if ident is None:
        return _not_found(request)
    try:
        detail = enterprises.detail(db, user, ident, now=request.app.state.ctx.now())
    except NotFound:
        return _not_found(request)
    today = local_date(request.app.state.ctx.now())
    return render(request, "web/enterprise.html", detail=detail, e=detail.enterprise, today_iso=today.isoformat(),
                  **_labels())


def _labels() -> dict[str, Any]:
    return {"history_labels": {"hazard_opened": "隐患", "hazard_closed": "销号", "return": "自查报告",
                               "blacklist": "黑名单"}}
