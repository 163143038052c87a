"""The public 举报 form's API: no token, rate-limited, and it shows a state and nothing else."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from services.engine import commands
from app.api.client import client_ip
from app.api.deps import Ctx, Db, ReadDb
from app.api.schemas import ErrorOut, PublicReceipt, PublicStatus
from services.lifecycle.bodies import PublicReportBody
from services.bulletins import exposure
from services.bulletins.models import ExposurePage

router = APIRouter(prefix="/api/v1/public", tags=["public"])

_EXAMPLE = {
    "title": "小区地下车库堆放大量液化气钢瓶",
    "description": "某小区地下车库内长期堆放二十余个液化气钢瓶，无人看管。",
    "location": "吕梁市离石区滨河北路某小区地下车库",
    "region_code": "141102",
    "industry": "燃气",
    "contact": "13800000000",
}


@router.post("/reports", status_code=201, response_model=PublicReceipt, summary="群众举报（无需登录，限频）",
             responses={400: {"description": "请求体无法解析（不是 UTF-8 编码的 JSON）", "model": ErrorOut},
                        422: {"description": "内容不合法", "model": ErrorOut},
                        429: {"description": "提交过于频繁", "model": ErrorOut}})
def public_report(
    ctx: Ctx, db: Db, request: Request,
    body: Annotated[PublicReportBody, Body(openapi_examples={"燃气": {"value": _EXAMPLE}})],
) -> PublicReceipt:
    return commands.public_report(db, ctx.settings, body, client=client_ip(request), now=ctx.now())


async def count_lookup(ctx: Ctx, request: Request) -> None:
    """Every lookup counts against the caller's hourly limit, whatever it finds: in a unit of work
    of its own, committed before the lookup runs."""
    def count() -> None:
        with ctx.uow.write() as session:
            commands.count_status_lookup(session, ctx.settings, client=client_ip(request), now=ctx.now())
    await run_in_threadpool(count)


@router.get("/reports/{tracking_code}", response_model=PublicStatus, summary="举报办理状态查询",
            responses={404: {"description": "查询码不存在", "model": ErrorOut},
                       422: {"description": "查询码不合法", "model": ErrorOut},  # not FastAPI's default shape
                       429: {"description": "查询过于频繁", "model": ErrorOut}})
def public_status(_: Annotated[None, Depends(count_lookup)], db: ReadDb, tracking_code: str) -> PublicStatus:
    return commands.public_status(db, tracking_code)


@router.get("/exposure", response_model=ExposurePage, summary="曝光：挂牌督办中的重大事故隐患及近期销号情况（无需登录）",
            responses={422: {"description": "页码不合法", "model": ErrorOut}})
def public_exposure(ctx: Ctx, db: ReadDb,
                    page: Annotated[int, Query(ge=1, le=exposure.MAX_PAGE, description="页码")] = 1) -> ExposurePage:
    return exposure.exposure(db, now=ctx.now(), page=page)
