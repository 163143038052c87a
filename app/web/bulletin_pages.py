"""通报 pages: a region's list for a month with the review forms (include / exclude with a note) and
the issue button for its own 安委办, the 通报 issued from it, and their HTML and PDF. Thin: the rules
are services/bulletins (review.py, issue.py); a refused review shows the list again with the
refusal at its entry."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from app.api.deps import Db, ReadDb
from app.web.csrf import CsrfChecked
from app.web.errors import ErrorPage
from app.web.forms import PostedForm
from app.web.render import flash, render
from app.web.session import WebUser
from services.bulletins import access, issue as issuing, review
from services.kernel.clock import local_date
from services.kernel.errors import DomainError, Forbidden, Invalid, NotFound
from services.kernel.inputs import ascii_id, form_text

router = APIRouter()


def _month(request: Request, month: str) -> str:
    return month.strip()[:7] or f"{local_date(request.app.state.ctx.now()):%Y-%m}"


def _list_page(request: Request, user, db, month: str, region: str, *, item_errors: dict[int, str] | None = None,
               status: int = 200) -> Response:
    if user.role not in access.READERS:
        raise ErrorPage(403, "无权查看通报", "通报清单供安委办、监管部门和审计人员查看。")
    values = {"month": _month(request, month), "region": (region.strip()[:6] or user.region_code)}
    try:
        data = review.month_list(db, user, region=values["region"], month=values["month"])
    except (Invalid, Forbidden) as exc:
        errors = {d["field"]: d["message"] for d in (exc.details or [])} if isinstance(exc, Invalid) else \
            {"region": exc.message}
        return render(request, "web/bulletins.html", status=422 if isinstance(exc, Invalid) else 403, data=None,
                      values=values, errors=errors, item_errors={})
    return render(request, "web/bulletins.html", status=status, data=data, values=values, errors={},
                  item_errors=item_errors or {})


@router.get("/bulletins")
def bulletins_page(request: Request, user: WebUser, db: ReadDb, month: str = "", region: str = "") -> Response:
    return _list_page(request, user, db, month, region)


def _back(month: str, region: str) -> str:
    return "/bulletins?" + urlencode({"month": month, "region": region})


@router.post("/bulletins/items/{item_id}/review")
def review_submit(request: Request, user: WebUser, item_id: str, _: CsrfChecked, form: PostedForm,
                  db: Db) -> Response:
    found = ascii_id(item_id)
    if found is None:
        raise ErrorPage(404, "页面不存在", "通报条目不存在或不在您的管辖范围内。")
    decision, note = form_text(form.get("decision")), form_text(form.get("note"))
    try:
        with db.begin_nested():  # a refusal rolls its writes back before the list shows it
            item = review.decide(db, user, found, decision, note, now=request.app.state.ctx.now())
    except NotFound as exc:
        raise ErrorPage(404, "页面不存在", exc.message) from None
    except Invalid as exc:
        message = "；".join(str(d.get("message")) for d in exc.details or []) or exc.message
        current = review.get_item(db, user, found)
        return _list_page(request, user, db, current.month, current.region_code, item_errors={found: message},
                          status=422)
    except DomainError as exc:
        raise ErrorPage(exc.status, "无法完成", exc.message) from None
    response = RedirectResponse(_back(item.month, item.region_code), status_code=303)
    flash(request, response, f"已将条目审核为“{item.status_label}”")
    return response


@router.post("/bulletins/issue")
def issue_submit(request: Request, user: WebUser, _: CsrfChecked, form: PostedForm, db: Db) -> Response:
    month, region = form_text(form.get("month"))[:7], form_text(form.get("region"))[:6]
    try:
        out = issuing.issue(db, user, region=region, month=month, now=request.app.state.ctx.now())
    except DomainError as exc:
        raise ErrorPage(exc.status, "无法印发通报", exc.message) from None
    response = RedirectResponse(_back(out.month, out.region_code), status_code=303)
    flash(request, response, f"已印发通报 {out.number}（{out.entries} 项）")
    return response


@router.get("/bulletins/{bulletin_id}/document")
def bulletin_document(user: WebUser, bulletin_id: str, db: ReadDb, format: str = "html") -> Response:
    found = ascii_id(bulletin_id)
    try:
        if found is None:
            raise NotFound("通报不存在")
        row = issuing.get(db, user, found)
    except NotFound as exc:
        raise ErrorPage(404, "页面不存在", exc.message) from None
    except Forbidden as exc:
        raise ErrorPage(403, "无权查看通报", exc.message) from None
    name = quote(f"{row.number}.{'pdf' if format == 'pdf' else 'html'}", safe="")
    if format == "pdf":
        return Response(issuing.pdf(row), media_type="application/pdf", headers={
            "Content-Disposition": f"inline; filename=\"bulletin-{row.id}.pdf\"; filename*=UTF-8''{name}"})
    return Response(row.html, media_type="text/html; charset=utf-8", headers={
        "Content-Disposition": f"inline; filename=\"bulletin-{row.id}.html\"; filename*=UTF-8''{name}"})
