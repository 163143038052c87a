"""一张表: the enterprises a government reader oversees and one enterprise's page
(services/reads/enterprises.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.api.deps import Caller, Ctx, IdPath, ReadDb
from app.api.schemas import ErrorOut
from services.kernel.vocab import INDUSTRIES
from services.reads import enterprises
from services.reads.enterprises import EnterpriseDetail, EnterprisePage

router = APIRouter(prefix="/api/v1/enterprises", tags=["enterprises"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "未登录或令牌无效", "model": ErrorOut},
    403: {"description": "角色无权查看企业一张表（企业用户）", "model": ErrorOut},
    404: {"description": "企业不存在或不在管辖范围内", "model": ErrorOut},
    422: {"description": "查询条件不合法（字段级中文提示）", "model": ErrorOut},
}


@router.get("", response_model=EnterprisePage, responses={k: ERRORS[k] for k in (401, 403, 422)},
            summary="企业一张表：行业主管部门、监管责任人、在办隐患、黑名单、本月自查报告")
def list_enterprises(
    ctx: Ctx, caller: Caller, db: ReadDb,
    unassigned: Annotated[bool, Query(description="仅列出没有行业主管部门的企业")] = False,
    industry: Annotated[str | None, Query(description="、".join(INDUSTRIES), max_length=32)] = None,
    blacklisted: Annotated[bool | None, Query(description="仅黑名单企业（true）或排除（false）")] = None,
    q: Annotated[str | None, Query(description="企业名称或统一社会信用代码的一部分", max_length=100)] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=enterprises.MAX_PER_PAGE)] = 50,
) -> EnterprisePage:
    return enterprises.list_view(db, caller, now=ctx.now(), unassigned=unassigned, industry=industry,
                                 blacklisted=blacklisted, q=q, page=page, per_page=per_page)


@router.get("/{enterprise_id}", response_model=EnterpriseDetail, responses={k: ERRORS[k] for k in (401, 404, 422)},
            summary="企业详情：其隐患、自查报告、黑名单决定与状态、历史记录")
def get_enterprise(ctx: Ctx, caller: Caller, db: ReadDb, enterprise_id: IdPath) -> EnterpriseDetail:
    return enterprises.detail(db, caller, enterprise_id, now=ctx.now())
