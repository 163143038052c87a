"""通报: a region's monthly list (review: include or exclude each entry), and the numbered 通报
issued from it (services/bulletins/)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import Caller, Ctx, Db, IdPath, ReadDb
from app.api.routers.documents import content_disposition
from app.api.schemas import ErrorOut
from services.bulletins import issue as issuing, review
from services.bulletins.models import BulletinItemOut, BulletinList, BulletinOut

router = APIRouter(prefix="/api/v1/bulletins", tags=["bulletins"])

E401 = {401: {"description": "未登录或令牌无效", "model": ErrorOut}}
E403 = {403: {"description": "角色无权查看或审核，或地区不在辖区内", "model": ErrorOut}}
E404 = {404: {"description": "条目或通报不存在，或不在辖区内", "model": ErrorOut}}
E409 = {409: {"description": "条目已随通报印发，或没有可印发的条目", "model": ErrorOut}}
E422 = {422: {"description": "请求不合法（字段级中文提示）", "model": ErrorOut}}
E400 = {400: {"description": "请求体无法解析（不是 UTF-8 编码的 JSON）", "model": ErrorOut}}


class ReviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["include", "exclude"] = Field(description="include 列入通报 / exclude 不列入（须说明理由）")
    note: str | None = Field(None, max_length=500, description="审核说明")


class IssueBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    region: str = Field(max_length=6, description="本安委办的行政区划代码", examples=["141102"])
    month: str = Field(max_length=7, description="YYYY-MM", examples=["2026-11"])


@router.get("/items", response_model=BulletinList, responses={**E401, **E403, **E422},
            summary="某地区某月的通报清单（逾期隐患、未报自查、迟报月报）及已印发的通报")
def month_list(caller: Caller, db: ReadDb,
               month: Annotated[str, Query(description="YYYY-MM", examples=["2026-11"], max_length=7)],
               region: Annotated[str | None, Query(description="行政区划代码，默认本人辖区", max_length=6)] = None,
               ) -> BulletinList:
    return review.month_list(db, caller, region=region, month=month)


@router.post("/items/{item_id}/review", response_model=BulletinItemOut,
             responses={**E400, **E401, **E403, **E404, **E409, **E422}, summary="审核通报条目：列入或不列入")
def review_item(ctx: Ctx, caller: Caller, db: Db, item_id: IdPath,
                body: Annotated[ReviewBody, Body(openapi_examples={"列入": {"value": {"decision": "include"}}})],
                ) -> Response:
    out = review.decide(db, caller, item_id, body.decision, body.note, now=ctx.now())
    return Response(out.model_dump_json(), media_type="application/json")


@router.post("/issue", status_code=201, response_model=BulletinOut,
             responses={**E400, **E401, **E403, **E409, **E422},
             summary="印发通报：已列入且未印发的条目编号成文（HTML 及 SHA-256）")
def issue(ctx: Ctx, caller: Caller, db: Db,
          body: Annotated[IssueBody, Body(openapi_examples={"离石区": {"value": {"region": "141102",
                                                                                  "month": "2026-11"}}})],
          ) -> Response:
    out = issuing.issue(db, caller, region=body.region, month=body.month, now=ctx.now())
    return Response(out.model_dump_json(), media_type="application/json", status_code=201)


DOC: dict[int | str, dict[str, Any]] = {200: {"description": "通报原文：HTML（SHA-256 与记录链一致）或 PDF",
                                              "content": {"text/html": {}, "application/pdf": {}}}}


@router.get("/{bulletin_id}", response_model=None, responses={**DOC, **E401, **E403, **E404, **E422},
            summary="一份通报（format=html|pdf）")
def get_bulletin(caller: Caller, db: ReadDb, bulletin_id: IdPath,
                 fmt: Annotated[Literal["html", "pdf"], Query(alias="format")] = "html") -> Response:
    row = issuing.get(db, caller, bulletin_id)
    headers = {"ETag": f'"{row.sha256}"'}
    if fmt == "pdf":
        headers["Content-Disposition"] = content_disposition(f"{row.number}.pdf", f"bulletin-{row.id}.pdf")
        return Response(issuing.pdf(row), media_type="application/pdf", headers=headers)
    headers["Content-Disposition"] = content_disposition(f"{row.number}.html", f"bulletin-{row.id}.html")
    return Response(row.html, media_type="text/html; charset=utf-8", headers=headers)
