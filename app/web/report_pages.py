"""月报 page: a month and a region (by name, within the reader's scope) picked in a form, the month's
and the year's figures by industry with the 动态清零 account, and the official form as .xlsx or PDF
(services/reports); and its 直报 (services/reports/submission.py): the state, 上报 for the region's
安委办 (with a confirmation), 退回 (with a reason) / 通过 for the 安委办 above, and for a city or the
province its children — who has submitted, who is missing, who is late."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from app.api.deps import Db, ReadDb
from app.web.csrf import CsrfChecked
from app.web.forms import PostedForm
from app.web.render import flash, render
from app.web.session import WebUser
from services.calendar.workdays import default_calendar
from services.kernel import regions as region_codes
from services.kernel.clock import local_date
from services.kernel.errors import Conflict, DomainError, Forbidden, Invalid
from services.kernel.inputs import form_text
from services.lifecycle.roles import Role
from services.reads.directory import regions
from services.reports import form, submission
from services.reports.form import COLUMNS
from services.reports.monthly import READERS, MonthlyReport
from services.reports.submission_view import BASIS_LABELS, MonthlyReportView, view

router = APIRouter()
BASES = ("auto", "live", "submitted", "rollup")
# In a month's first working days the page opens on the month before: its reports are being
# submitted late, returned and accepted then, and that is what the 安委办 comes to look at.
LAST_MONTH_WORKDAYS = 5


def default_month(today) -> str:
    before = today.replace(day=1) - timedelta(days=1)
    if default_calendar().working_days_between(before, today) <= LAST_MONTH_WORKDAYS:
        return f"{before:%Y-%m}"
    return f"{today:%Y-%m}"


def _choices(db, user) -> list[tuple[str, str]]:
    """The reader's region and the ones below it, down to the counties (codes of six digits)."""
    return [(r.code, r.name) for r in regions(db, region_codes.scope_prefix(user.region_code)) if len(r.code) == 6]


def _refused(request: Request) -> Response:
    return render(request, "web/error.html", status=403, title="无权查看月报",
                  message="月报供安委办、监管部门和审计人员查看。")


def _rule(request: Request) -> submission.DueRule:
    return submission.DueRule.of(default_calendar(), request.app.state.ctx.settings)


def _report(request: Request, user, db, month: str, region: str, basis: str = "auto") -> MonthlyReportView:
    today = local_date(request.app.state.ctx.now())
    return view(db, user, month=month or default_month(today), region_code=region or None, today=today,
                rule=_rule(request), basis=basis if basis in BASES else "auto")  # type: ignore[arg-type]


def _acts(user, report: MonthlyReportView, today) -> dict[str, Any]:
    """What this reader may do with the month's submission (the service checks again)."""
    sub = report.submission
    if sub is None or user.role != Role.COMMITTEE:
        return {"submit": False, "decide": False, "opens": None}
    own = user.region_code == sub.region_code and sub.parent_code is not None
    return {"submit": own and sub.state in ("not_drafted", "draft", "returned"),
            "opens": sub.deadline if today < sub.deadline else None,
            "decide": user.region_code == sub.parent_code and sub.state == "submitted"}


def _page(request: Request, user, db, values: dict[str, str], *, errors: dict[str, str] | None = None,
          status: int = 200, message: str | None = None) -> Response:
    today = local_date(request.app.state.ctx.now())
    try:
        report = _report(request, user, db, values["month"], values["region"], values.get("basis", "auto"))
    except (Invalid, Forbidden, Conflict) as exc:
        problems = {d["field"]: d["message"] for d in (exc.details or [])} if isinstance(exc, Invalid) else \
            {"region": exc.message} if isinstance(exc, Forbidden) else {}
        return render(request, "web/monthly_report.html", status=exc.status, report=None, values=values,
                      errors=problems, region_choices=_choices(db, user), columns=COLUMNS,
                      message=exc.message if isinstance(exc, Conflict) else None)
    query = urlencode({"month": report.month, "region": report.region_code, "basis": report.basis})
    return render(request, "web/monthly_report.html", status=status, report=report, values=values,
                  errors=errors or {}, message=message, region_choices=_choices(db, user), columns=COLUMNS,
                  parts=[("本月", report.month_figures), ("年初至今", report.year_to_date)],
                  basis_label=BASIS_LABELS[report.basis], acts=_acts(user, report, today),
                  downloads=[("下载统计表（Excel）", f"/reports/monthly.xlsx?{query}"),
                             ("下载统计表（PDF）", f"/reports/monthly.pdf?{query}")])


@router.get("/reports/monthly")
def monthly_page(request: Request, user: WebUser, db: ReadDb, month: str = "", region: str = "",
                 basis: str = "auto") -> Response:
    if user.role not in READERS:
        return _refused(request)
    today = local_date(request.app.state.ctx.now())
    values = {"month": month or default_month(today), "region": region or user.region_code, "basis": basis}
    return _page(request, user, db, values)


def _act(request: Request, user, db, form_data, act: str) -> Response:
    """上报 / 退回 / 通过 from the page: done in a savepoint, so a refusal is rolled back and the page
    shows it again with the message; success goes back to the page with a notice."""
    if user.role not in READERS:
        return _refused(request)
    values = {"month": form_text(form_data.get("month"))[:7], "region": form_text(form_data.get("region"))[:6],
              "basis": "auto"}
    reason = form_text(form_data.get("reason"))[:2000]
    if act == "submit" and form_text(form_data.get("confirm")) != "1":
        return _page(request, user, db, values, status=422,
                     errors={"confirm": "请勾选确认：上报后本月数字即冻结，只有上级退回后才能重报"})
    ctx = request.app.state.ctx
    now = ctx.now()
    try:
        with db.begin_nested():
            t = submission.target(db, user, values["region"], values["month"], local_date(now))
            if act == "submit":
                submission.submit(db, user, t, now=now, rule=_rule(request))
            else:
                submission.decide(db, user, t, act, now=now, reason=reason)
    except Invalid as exc:
        errors = {d["field"]: d["message"] for d in (exc.details or [])}
        return _page(request, user, db, values, status=422, errors=errors, message=exc.message)
    except DomainError as exc:
        return _page(request, user, db, values, status=exc.status, message=exc.message)
    response = RedirectResponse(f"/reports/monthly?{urlencode({'month': t.month, 'region': t.code})}", status_code=303)
    flash(request, response, {"submit": f"已上报{t.name} {t.month} 的月报，数字已冻结",
                              "return": f"已退回{t.name} {t.month} 的月报", "accept": f"已通过{t.name} {t.month} 的月报"}[act])
    return response


@router.post("/reports/monthly/submit")
def submit_report(request: Request, user: WebUser, _: CsrfChecked, form_data: PostedForm, db: Db) -> Response:
    return _act(request, user, db, form_data, "submit")


@router.post("/reports/monthly/return")
def return_report(request: Request, user: WebUser, _: CsrfChecked, form_data: PostedForm, db: Db) -> Response:
    return _act(request, user, db, form_data, "return")


@router.post("/reports/monthly/accept")
def accept_report(request: Request, user: WebUser, _: CsrfChecked, form_data: PostedForm, db: Db) -> Response:
    return _act(request, user, db, form_data, "accept")


def _download(request: Request, user, db, month: str, region: str, ext: str, basis: str = "auto") -> Response:
    if user.role not in READERS:
        return _refused(request)
    try:
        report: MonthlyReport = _report(request, user, db, month, region, basis)
    except (Invalid, Forbidden, Conflict) as exc:
        return render(request, "web/error.html", status=exc.status, title="无法生成月报", message=exc.message)
    today = local_date(request.app.state.ctx.now())
    content, media, name = form.download(report, ext, **form.signature(db, user, today))
    return Response(content, media_type=media, headers={
        "Content-Disposition": f"attachment; filename=\"monthly-{report.region_code}-{report.month}.{ext}\"; "
                               f"filename*=UTF-8''{quote(name, safe='')}", "Cache-Control": "no-store"})


@router.get("/reports/monthly.xlsx")
def monthly_xlsx(request: Request, user: WebUser, db: ReadDb, month: str = "", region: str = "",
                 basis: str = "auto") -> Response:
    return _download(request, user, db, month, region, "xlsx", basis)


@router.get("/reports/monthly.pdf")
def monthly_pdf(request: Request, user: WebUser, db: ReadDb, month: str = "", region: str = "",
                basis: str = "auto") -> Response:
    return _download(request, user, db, month, region, "pdf", basis)
