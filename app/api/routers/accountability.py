"""问责移交 and 约谈 records (services/accountability/): read them, record a referral's outcome and
a 约谈's meeting."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import Caller, Ctx, Db, IdPath, ReadDb
from app.api.routers.documents import content_disposition
from app.api.schemas import ErrorOut
from services.accountability import actions, reads
from services.accountability.models import ReferralOut, SummonsOut
from services.documents.render import render_pdf
from services.kernel.errors import NotFound

router = APIRouter(prefix="/api/v1", tags=["accountability"])

E400 = {400: {"description": "请求体无法解析（不是 UTF-8 编码的 JSON）", "model": ErrorOut}}
E401 = {401: {"description": "未登录或令牌无效", "model": ErrorOut}}
E403 = {403: {"description": "角色无权查看或登记", "model": ErrorOut}}
E404 = {404: {"description": "记录不存在，或不在辖区内", "model": ErrorOut}}
E409 = {409: {"description": "办理结果不能这样变更，或已被同时更新", "model": ErrorOut}}
E422 = {422: {"description": "请求不合法（字段级中文提示）", "model": ErrorOut}}


class OutcomeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Literal["accepted", "investigating", "concluded", "declined"] = Field(
        description="accepted 已受理 / investigating 调查中 / concluded 已办结 / declined 不予受理")
    note: str | None = Field(None, max_length=1000, description="办理情况说明（办结、不予受理时必填）")


class SummonsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    held_on: date = Field(description="约谈日期 YYYY-MM-DD")
    attendees: str = Field(max_length=500, description="参加人员")
    commitments: str = Field(max_length=2000, description="企业的整改承诺")


@router.get("/referrals", response_model=list[ReferralOut], responses={**E401, **E403},
            summary="辖区内的问责移交记录（最新的 200 条）")
def list_referrals(caller: Caller, db: ReadDb) -> list[ReferralOut]:
    return reads.referrals(db, caller)


DOC: dict[int | str, dict[str, Any]] = {200: {"model": ReferralOut, "description": "问责移交记录（JSON），或移交函 HTML / PDF",
                                              "content": {"text/html": {}, "application/pdf": {}}}}


@router.get("/referrals/{referral_id}", response_model=ReferralOut, responses={**DOC, **E401, **E404, **E422},
            summary="一条问责移交记录（format=json|html|pdf：移交函）")
def get_referral(caller: Caller, db: ReadDb, referral_id: IdPath,
                 fmt: Annotated[Literal["json", "html", "pdf"], Query(alias="format")] = "json") -> Any:
    out = reads.referral(db, caller, referral_id)
    if fmt == "json":
        return out
    html = reads.referral_row(db, caller, referral_id).html
    if html is None:
        raise NotFound("移交函尚未生成")
    number = out.number or f"referral-{out.id}"
    headers = {"ETag": f'"{out.sha256}"'}
    if fmt == "pdf":
        headers["Content-Disposition"] = content_disposition(f"{number}.pdf", f"referral-{out.id}.pdf")
        return Response(render_pdf(html), media_type="application/pdf", headers=headers)
    headers["Content-Disposition"] = content_disposition(f"{number}.html", f"referral-{out.id}.html")
    return Response(html, media_type="text/html; charset=utf-8", headers=headers)


@router.post("/referrals/{referral_id}/outcome", response_model=ReferralOut,
             responses={**E400, **E401, **E403, **E404, **E409, **E422}, summary="登记问责移交的办理结果")
def referral_outcome(ctx: Ctx, caller: Caller, db: Db, referral_id: IdPath,
                     body: Annotated[OutcomeBody, Body(openapi_examples={"已受理": {"value": {"outcome": "accepted"}}})],
                     ) -> Response:
    out = actions.set_outcome(db, caller, referral_id, body.outcome, body.note, now=ctx.now())
    return Response(out.model_dump_json(), media_type="application/json")


@router.get("/summonses", response_model=list[SummonsOut], responses={**E401, **E403},
            summary="辖区内的约谈记录（最新的 200 条）")
def list_summonses(caller: Caller, db: ReadDb) -> list[SummonsOut]:
    return reads.summonses(db, caller)


@router.post("/summonses/{summons_id}/record", response_model=SummonsOut,
             responses={**E400, **E401, **E403, **E404, **E422}, summary="登记约谈情况：日期、参加人员、整改承诺")
def record_summons(ctx: Ctx, caller: Caller, db: Db, summons_id: IdPath,
                   body: Annotated[SummonsBody, Body(openapi_examples={"约谈": {"value": {
                       "held_on": "2026-11-20", "attendees": "企业主要负责人张建国；县安委办李明",
                       "commitments": "11月30日前完成锚索补打并申请验收"}}})]) -> Response:
    out = actions.record_summons(db, caller, summons_id, held_on=body.held_on, attendees=body.attendees,
                                 commitments=body.commitments, now=ctx.now())
    return Response(out.model_dump_json(), media_type="application/json")
