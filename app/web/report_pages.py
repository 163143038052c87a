"""月报 page: a month and a region (by name, within the reader's scope) picked in a form, the month's
and the year's figures by industry with the 动态清零 account, and the official form as .xlsx or PDF
(services/reports)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.deps import ReadDb
from app.web.render import render
from app.web.session import WebUser
from services.kernel import regions as region_codes
from services.kernel.clock import local_date
from services.kernel.errors import Forbidden, Invalid
from services.reads.directory import regions
from services.reports import form
from services.reports.form import COLUMNS
from services.reports.monthly import READERS, MonthlyReport, for_reader

router = APIRouter()


def _choices(db, user) -> list[tuple[str, str]]:
    """The reader's region and the ones below it, down to the counties (codes of six digits)."""
    return [(r.code, r.name) for r in regions(db, region_codes.scope_prefix(user.region_code)) if len(r.code) == 6]


def _refused(request: Request) -> Response:
    return render(request, "web/error.html", status=403, title="无权查看月报",
                  message="月报供安委办、监管部门和审计人员查看。")


def _report(request: Request, user, db, month: str, region: str) -> MonthlyReport:
    today = local_date(request.app.state.ctx.now())
    return for_reader(db, user, month=month or f"{today:%Y-%m}", region_code=region or None, today=today)


@router.get("/reports/monthly")
def monthly_page(request: Request, user: WebUser, db: ReadDb, month: str = "", region: str = "") -> Response:
    if user.role not in READERS:
        return _refused(request)
    today = local_date(request.app.state.ctx.now())
    values = {"month": month or f"{today:%Y-%m}", "region": region or user.region_code}
    try:
        report = _report(request, user, db, values["month"], values["region"])
    except (Invalid, Forbidden) as exc:
        errors = {d["field"]: d["message"] for d in (exc.details or [])} if isinstance(exc, Invalid) else \
            {"region": exc.message}
        return render(request, "web/monthly_report.html", status=422 if isinstance(exc, Invalid) else 403,
                      report=None, values=values, errors=errors, region_choices=_choices(db, user), columns=COLUMNS)
    query = urlencode({"month": report.month, "region": report.region_code})
    return render(request, "web/monthly_report.html", report=report, values=values, errors={},
                  region_choices=_choices(db, user), columns=COLUMNS,
                  parts=[("本月", report.month_figures), ("年初至今", report.year_to_date)],
                  downloads=[("下载统计表（Excel）", f"/reports/monthly.xlsx?{query}"),
                             ("下载统计表（PDF）", f"/reports/monthly.pdf?{query}")])


def _download(request: Request, user, db, month: str, region: str, ext: str) -> Response:
    if user.role not in READERS:
        return _refused(request)
    try:
        report = _report(request, user, db, month, region)
    except (Invalid, Forbidden) as exc:
        return render(request, "web/error.html", status=422 if isinstance(exc, Invalid) else 403,
                      title="无法生成月报", message=exc.message)
    today = local_date(request.app.state.ctx.now())
    content, media, name = form.download(report, ext, **form.signature(db, user, today))
    return Response(content, media_type=media, headers={
        "Content-Disposition": f"attachment; filename=\"monthly-{report.region_code}-{report.month}.{ext}\"; "
                               f"filename*=UTF-8''{quote(name, safe='')}", "Cache-Control": "no-store"})


@router.get("/reports/monthly.xlsx")
def monthly_xlsx(request: Request, user: WebUser, db: ReadDb, month: str = "", region: str = "") -> Response:
    return _download(request, user, db, month, region, "xlsx")


@router.get("/reports/monthly.pdf")
def monthly_pdf(request: Request, user: WebUser, db: ReadDb, month: str = "", region: str = "") -> Response:
    return _download(request, user, db, month, region, "pdf")
