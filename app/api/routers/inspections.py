"""企业自查: an enterprise files (or amends) its monthly self-inspection return and records its
立查立改; government readers see which enterprises in scope have filed (services/inspections/)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Form, Query, Response, UploadFile

from app.api.deps import Caller, Ctx, Db, IdPath, ReadDb
from app.api.schemas import ErrorOut
from services.inspections import reads, returns, spot_fixes
from services.inspections.models import ReturnBody, ReturnList, ReturnOut, SpotFixOut
from services.kernel.clock import local_date

router = APIRouter(prefix="/api/v1/self-inspections", tags=["self-inspections"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "请求体无法解析（不是 UTF-8 编码的 JSON，或 multipart 格式错误）", "model": ErrorOut},
    401: {"description": "未登录或令牌无效", "model": ErrorOut},
    403: {"description": "角色无权操作，或地区不在辖区内", "model": ErrorOut},
    404: {"description": "自查报告不存在或不在管辖范围内", "model": ErrorOut},
    422: {"description": "内容不合法（字段级中文提示），或该月已不能报送", "model": ErrorOut},
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: ERRORS[code] for code in codes}


EXAMPLE = {"month": "2026-11", "checked_from": "2026-11-02", "checked_to": "2026-11-20",
           "scope": "井下采掘工作面、主运输系统、通风系统", "principal": "王建国", "nil_return": False,
           "hazards": [{"title": "皮带机护罩缺失", "description": "主斜井皮带机机头护罩缺失，未设警示。",
                        "location": "主斜井皮带机机头"}], "link_hazard_ids": []}


@router.post("", response_model=ReturnOut, responses=errors(400, 401, 403, 422),
             summary="报送（或修改）本企业的月度自查报告；发现的隐患按企业自查来源上报并关联")
def file_return(ctx: Ctx, caller: Caller, db: Db,
                body: Annotated[ReturnBody, Body(openapi_examples={"发现隐患": {"value": EXAMPLE}})]) -> Response:
    now = ctx.now()
    return_id = returns.file_return(db, caller, body, now=now)
    out = reads.get_view(db, caller, return_id, now=now)
    return Response(out.model_dump_json(), media_type="application/json")


@router.get("", response_model=ReturnList, responses=errors(401, 403, 422),
            summary="企业自查报送情况：监管人员看辖区内企业是否报送；企业看本企业的报告")
def list_returns(
    ctx: Ctx, caller: Caller, db: ReadDb,
    month: Annotated[str | None, Query(description="YYYY-MM，默认本月", max_length=7)] = None,
    region: Annotated[str | None, Query(description="行政区划代码（6位），默认本人辖区", max_length=6)] = None,
    missing: Annotated[bool, Query(description="只看未报送的企业")] = False,
) -> ReturnList:
    return reads.list_view(db, caller, month=month, region=region, missing=missing, today=local_date(ctx.now()))


@router.get("/{return_id}", response_model=ReturnOut, responses=errors(401, 404, 422), summary="自查报告详情")
def get_return(ctx: Ctx, caller: Caller, db: ReadDb, return_id: IdPath) -> ReturnOut:
    return reads.get_view(db, caller, return_id, now=ctx.now())


@router.post("/{return_id}/spot-fixes", status_code=201, response_model=SpotFixOut,
             responses=errors(400, 401, 403, 404, 422),
             summary="立查立改：记录当场整改的一般隐患，附一份证据（JPEG/PNG/WebP/PDF）")
def add_spot_fix(
    ctx: Ctx, caller: Caller, return_id: IdPath,
    description: Annotated[str, Form(max_length=4000)], location: Annotated[str, Form(max_length=300)],
    measures: Annotated[str, Form(max_length=4000)], fixed_on: Annotated[date, Form()],
    evidence: Annotated[UploadFile, File()],
) -> Response:
    out = spot_fixes.record(
        ctx.uow, caller, return_id,
        {"description": description, "location": location, "measures": measures, "fixed_on": fixed_on},
        filename=evidence.filename or "upload", stream=evidence.file, root=ctx.settings.attachments_dir,
        max_bytes=ctx.settings.max_attachment_bytes, now=ctx.now())
    return Response(out.model_dump_json(), status_code=201, media_type="application/json")
