"""The 看板 page: the caller's figures (services.reads.dashboard) drawn as server-side SVG charts, each
followed by the same numbers as a table."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.deps import ReadDb
from services.reads import dashboard
from services.accounts.auth import Role
from services.calendar.workdays import default_calendar
from app.web import charts
from app.web.render import render
from app.web.session import WebUser

router = APIRouter()


@router.get("/dashboard")
def dashboard_page(request: Request, user: WebUser, db: ReadDb) -> Response:
    ctx = request.app.state.ctx
    figures = dashboard.figures(db, user, now=ctx.now())
    # Admins keep the calendar: the years whose open deadlines are counted on a provisional one.
    provisional = (dashboard.provisional_years(db, default_calendar(), today=figures["today"])
                   if user.role == Role.ADMIN else [])
    trend = [(p.label, p.value) for p in figures["overdue_trend"]]
    stock = [(p.label, p.value) for p in figures["major_stock"]]
    sections = [
        ("by-state", "按状态统计", "状态", figures["state"],
         charts.bar_chart("隐患数量（按状态）", figures["state"], x_label="状态", chart_id="c-state")),
        ("by-level", "按级别统计", "隐患级别", figures["level"],
         charts.bar_chart("隐患数量（按级别）", figures["level"], x_label="隐患级别", chart_id="c-level")),
        ("by-industry", "按行业统计", "行业领域", figures["industry"],
         charts.bar_chart("隐患数量（按行业）", figures["industry"], x_label="行业领域", chart_id="c-industry")),
        ("by-region", "按区县统计", "行政区划", figures["region"],
         charts.bar_chart("隐患数量（按区县）", figures["region"], x_label="行政区划", chart_id="c-region")),
        ("overdue-trend", "逾期隐患趋势（近12周，每周末）", "周末日期", trend,
         charts.line_chart("逾期隐患数量（每周末）", trend, x_label="周末日期", chart_id="c-overdue")),
        ("major-stock", "重大隐患存量（动态清零，每月末）", "月份", stock,
         charts.line_chart("未销号重大隐患存量（每月末）", stock, x_label="月份", chart_id="c-major")),
    ]
    return render(request, "web/dashboard.html", today=figures["today"], sections=sections,
                  headline=figures["headline"], provisional=provisional)
