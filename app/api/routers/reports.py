"""The monthly report (月报) of a region subtree, by industry (services/reports/): JSON, or the
official form as .xlsx or PDF."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from app.api.deps import Caller, Ctx, ReadDb
from app.api.routers.documents import content_disposition
from app.api.schemas import ErrorOut
from services.kernel.clock import local_date
from services.kernel.xlsx import MEDIA_TYPE
from services.reports import form
from services.reports.monthly import MonthlyReport, for_reader

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "未登录或令牌无效", "model": ErrorOut},
    403: {"description": "角色无权查看月报，或地区不在辖区内", "model": ErrorOut},
    422: {"description": "月份或行政区划代码不合法（字段级中文提示）", "model": ErrorOut},
}
FORMS = {200: {"description": "月报（JSON），或按统计表格式的 .xlsx / PDF",
               "content": {MEDIA_TYPE: {}, "application/pdf": {}}}}


@router.get("/monthly", response_model=MonthlyReport, responses={**ERRORS, **FORMS},
            summary="月报：本月及年初至今，按行业，含重大隐患动态清零台账（format=json|xlsx|pdf）")
def monthly_report(
    ctx: Ctx, caller: Caller, db: ReadDb,
    month: Annotated[str, Query(description="YYYY-MM", examples=["2026-11"], max_length=7)],
    region: Annotated[str | None, Query(description="行政区划代码（省、市或县，6位），默认本人辖区",
                                        max_length=6)] = None,
    fmt: Annotated[Literal["json", "xlsx", "pdf"], Query(alias="format")] = "json",
) -> Any:
    today = local_date(ctx.now())
    report = for_reader(db, caller, month=month, region_code=region, today=today)
    if fmt == "json":
        return report
    content, media, name = form.download(report, fmt, **form.signature(db, caller, today))
    return Response(content, media_type=media, headers={
        "Content-Disposition": content_disposition(name, f"monthly-{report.region_code}-{report.month}.{fmt}"),
        "Cache-Control": "no-store"})
