"""The monthly report (月报) of a region subtree, by industry (services/reports/): JSON, or the
official form as .xlsx or PDF; and its 直报 (services/reports/submission.py): the states of a region
and its children, 上报, 退回, 通过, and the frozen figures with their record chain."""

# No `from __future__ import annotations`: the return body's type is read by FastAPI.

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Response
from pydantic import BaseModel, Field

from app.api.deps import Caller, Ctx, Db, ReadDb
from app.api.routers.documents import content_disposition
from app.api.schemas import ErrorOut
from services.calendar.workdays import default_calendar
from services.kernel.clock import local_date
from services.kernel.xlsx import MEDIA_TYPE
from services.reports import form, submission
from services.reports.submission import DueRule, SubmissionOut, SubmittedOut
from services.reports.submission_view import MonthlyReportView, view

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "未登录或令牌无效", "model": ErrorOut},
    403: {"description": "角色无权查看月报，或地区不在辖区内", "model": ErrorOut},
    422: {"description": "月份或行政区划代码不合法（字段级中文提示）", "model": ErrorOut},
}
FORMS = {200: {"description": "月报（JSON），或按统计表格式的 .xlsx / PDF",
               "content": {MEDIA_TYPE: {}, "application/pdf": {}}}}
INTEGRITY = {409: {"description": "上报后的数据与其哈希不符（可能被改动），不予提供", "model": ErrorOut}}
ACT_ERRORS: dict[int | str, dict[str, Any]] = {
    401: ERRORS[401],
    403: {"description": "不是该地区（上报）或上一级（退回、通过）的安委办，或地区不在辖区内", "model": ErrorOut},
    409: {"description": "状态不允许（已上报、未上报、已处理），或与他人同时操作", "model": ErrorOut},
    422: {"description": "月份、地区不合法，未到上报时间，或退回理由为空（字段级中文提示）", "model": ErrorOut},
}
RegionPath = Annotated[str, Path(description="行政区划代码（市或县，6位）", examples=["141102"], max_length=6)]
MonthPath = Annotated[str, Path(description="YYYY-MM", examples=["2026-11"], max_length=7)]


def _rule(ctx: Ctx) -> DueRule:
    return DueRule.of(default_calendar(), ctx.settings)


@router.get("/monthly", response_model=MonthlyReportView, responses={**ERRORS, **FORMS, **INTEGRITY},
            summary="月报：本月及年初至今，按行业，含重大隐患动态清零台账（format=json|xlsx|pdf）；已上报的月份为冻结的数字")
def monthly_report(
    ctx: Ctx, caller: Caller, db: ReadDb,
    month: Annotated[str, Query(description="YYYY-MM", examples=["2026-11"], max_length=7)],
    region: Annotated[str | None, Query(description="行政区划代码（省、市或县，6位），默认本人辖区",
                                        max_length=6)] = None,
    fmt: Annotated[Literal["json", "xlsx", "pdf"], Query(alias="format")] = "json",
    basis: Annotated[Literal["auto", "live", "submitted", "rollup"], Query(
        description="auto：已上报的月份为上报时冻结的数字，否则按现状统计；live：现状；submitted：冻结的数字；"
                    "rollup：下级已通过月报的汇总（市、省）")] = "auto",
) -> Any:
    today = local_date(ctx.now())
    report = view(db, caller, month=month, region_code=region, today=today, rule=_rule(ctx), basis=basis)
    if fmt == "json":
        return report
    content, media, name = form.download(report, fmt, **form.signature(db, caller, today))
    return Response(content, media_type=media, headers={
        "Content-Disposition": content_disposition(name, f"monthly-{report.region_code}-{report.month}.{fmt}"),
        "Cache-Control": "no-store"})


@router.get("/submissions", response_model=SubmissionOut, responses=ERRORS,
            summary="直报状态：本地区及各下级地区的月报是否已上报、退回、通过，是否逾期")
def submissions(
    ctx: Ctx, caller: Caller, db: ReadDb,
    month: Annotated[str, Query(description="YYYY-MM", examples=["2026-11"], max_length=7)],
    region: Annotated[str | None, Query(description="行政区划代码（6位），默认本人辖区", max_length=6)] = None,
) -> Any:
    today = local_date(ctx.now())
    submission.readable(caller)
    t = submission.target(db, caller, region, month, today)
    return submission.status(db, t, today=today, rule=_rule(ctx))


def _answer(db: Db, ctx: Ctx, t: submission.Target) -> Response:
    out = submission.status(db, t, today=local_date(ctx.now()), rule=_rule(ctx))
    return Response(out.model_dump_json(), media_type="application/json")


@router.post("/monthly/{region}/{month}/submit", response_model=SubmissionOut, responses=ACT_ERRORS,
             summary="上报：本地区安委办上报本月月报，数字冻结并记录哈希（自截止日起可上报，退回后可重报）")
def submit(ctx: Ctx, caller: Caller, db: Db, region: RegionPath, month: MonthPath) -> Response:
    now = ctx.now()
    t = submission.target(db, caller, region, month, local_date(now))
    submission.submit(db, caller, t, now=now, rule=_rule(ctx))
    return _answer(db, ctx, t)


class ReturnBody(BaseModel):
    reason: str = Field(description="退回理由（必填，不超过 500 字）", examples=["第三季度重大隐患销号数与台账不符，请核实后重报"],
                        max_length=2000)


BAD_BODY = {400: {"description": "请求体无法解析（不是 UTF-8 编码的 JSON）", "model": ErrorOut}}


@router.post("/monthly/{region}/{month}/return", response_model=SubmissionOut, responses={**BAD_BODY, **ACT_ERRORS},
             summary="退回：上一级安委办退回已上报的月报并说明理由")
def return_report(ctx: Ctx, caller: Caller, db: Db, region: RegionPath, month: MonthPath,
                  body: Annotated[ReturnBody, Body()]) -> Response:
    now = ctx.now()
    t = submission.target(db, caller, region, month, local_date(now))
    submission.decide(db, caller, t, "return", now=now, reason=body.reason)
    return _answer(db, ctx, t)


@router.post("/monthly/{region}/{month}/accept", response_model=SubmissionOut, responses=ACT_ERRORS,
             summary="通过：上一级安委办通过已上报的月报（其冻结的数字计入上一级的汇总）")
def accept_report(ctx: Ctx, caller: Caller, db: Db, region: RegionPath, month: MonthPath) -> Response:
    now = ctx.now()
    t = submission.target(db, caller, region, month, local_date(now))
    submission.decide(db, caller, t, "accept", now=now)
    return _answer(db, ctx, t)


@router.get("/monthly/{region}/{month}/submitted", response_model=SubmittedOut,
            responses={**ERRORS, **INTEGRITY, 404: {"description": "该月报尚未上报", "model": ErrorOut}},
            summary="上报时冻结的月报：数字、SHA-256 及其记录链（上报、退回、通过）")
def submitted(ctx: Ctx, caller: Caller, db: ReadDb, region: RegionPath, month: MonthPath) -> Any:
    today = local_date(ctx.now())
    submission.readable(caller)
    t = submission.target(db, caller, region, month, today)
    return submission.submitted(db, t, today=today, rule=_rule(ctx))
