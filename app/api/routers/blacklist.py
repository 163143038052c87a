"""黑名单: a committee office's candidates for a quarter with their evidence, and its decisions
(services/blacklist/)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response
from pydantic import BaseModel, Field

from app.api.deps import Caller, Ctx, Db, IdPath, ReadDb
from app.api.schemas import ErrorOut
from services.blacklist import decisions
from services.blacklist.board import Board, board
from services.blacklist.decisions import DecisionOut

router = APIRouter(prefix="/api/v1/blacklist", tags=["blacklist"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "请求体无法解析（不是 UTF-8 编码的 JSON）", "model": ErrorOut},
    401: {"description": "未登录或令牌无效", "model": ErrorOut},
    403: {"description": "只有安委办可以查看候选名单和作出决定，或地区不在辖区内", "model": ErrorOut},
    404: {"description": "企业不存在或不在管辖范围内", "model": ErrorOut},
    409: {"description": "该企业本季度已作出决定（每个企业每季度一次）", "model": ErrorOut},
    422: {"description": "季度、地区、决定或理由不合法（字段级中文提示）", "model": ErrorOut},
}


class DecisionIn(BaseModel):
    quarter: str = Field(max_length=7, description="YYYY-Qn", examples=["2026-Q4"])
    decision: Literal["listed", "not_listed"] = Field(description="listed 列入 / not_listed 不列入")
    reason: str = Field(max_length=decisions.MAX_REASON, description="理由（必填）")


@router.get("", response_model=Board, responses={k: ERRORS[k] for k in (401, 403, 422)},
            summary="黑名单候选（含证据与已作出的决定）及当前在列企业")
def blacklist_board(
    ctx: Ctx, caller: Caller, db: ReadDb,
    quarter: Annotated[str | None, Query(description="YYYY-Qn，默认本季度", max_length=7)] = None,
    region: Annotated[str | None, Query(description="行政区划代码（6位），默认本人辖区", max_length=6)] = None,
) -> Board:
    return board(db, caller, quarter=quarter, region_code=region, now=ctx.now())


@router.post("/{enterprise_id}/decisions", status_code=201, response_model=DecisionOut,
             responses={k: ERRORS[k] for k in (400, 401, 403, 404, 409, 422)},
             summary="作出黑名单决定：列入 / 不列入（理由必填，每企业每季度一次）")
def decide(
    ctx: Ctx, caller: Caller, db: Db, enterprise_id: IdPath,
    body: Annotated[DecisionIn, Body(openapi_examples={"列入": {"value": {
        "quarter": "2026-Q4", "decision": "listed", "reason": "12个月内同类隐患重复出现3次，验收2次不通过"}}})],
) -> Response:
    out = decisions.decide(db, caller, enterprise_id, quarter=body.quarter, decision=body.decision,
                           reason=body.reason, now=ctx.now())
    return Response(out.model_dump_json(), status_code=201, media_type="application/json")
