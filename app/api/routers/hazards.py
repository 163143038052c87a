"""Hazards: report, list, read, act, audit trail, attachments.

One route per lifecycle action is generated from `LIFECYCLE`, so each action's body has its own
schema and example in the OpenAPI document, and a new action needs no router change.
"""

# No `from __future__ import annotations`: the per-action routes need their body types evaluated.

from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Query, Response, UploadFile

from services.engine import attachments, commands
from services.reads import hazards
from app.api.schemas import AttachmentOut, ErrorOut, EventOut, HazardOut, HazardPage
from app.api.deps import Caller, Ctx, Db, IdempotencyKeyHeader, IdPath, IfMatch, ReadDb, parse_if_match
from services.lifecycle.bodies import ReportBody
from services.lifecycle.body_examples import EXAMPLES
from services.lifecycle.states import STATE_LABELS, State
from services.lifecycle.table import LIFECYCLE
from services.kernel.vocab import INDUSTRIES

router = APIRouter(prefix="/api/v1", tags=["hazards"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "未登录或令牌无效", "model": ErrorOut},
    403: {"description": "角色无权执行，或违反四眼原则", "model": ErrorOut},
    404: {"description": "隐患不存在或不在管辖范围内", "model": ErrorOut},
    409: {"description": "状态不允许，版本已变化（If-Match），或 Idempotency-Key 已用于另一个请求", "model": ErrorOut},
    422: {"description": "请求体不合法（字段级中文提示）", "model": ErrorOut},
}
# A body that cannot be read at all (not UTF-8 JSON, broken multipart) is refused before validation.
BAD_BODY: dict[int | str, dict[str, Any]] = {
    400: {"description": "请求体无法解析（不是 UTF-8 编码的 JSON，或 multipart 格式错误）", "model": ErrorOut}}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The statuses of ERRORS a route can really answer (tests/app/api/test_documented_statuses.py)."""
    return {code: ERRORS[code] for code in codes}


HAZARD = {"model": HazardOut, "description": "隐患（含当前用户可执行的操作）"}


def _answer(outcome: commands.Outcome) -> Response:
    """The hazard (`HazardOut`, the route's response model) with its version as ETag, serialised by
    the model itself. Sent as a response rather than returned for FastAPI to check again: that check
    would re-validate a model the service has just built, in one more hop to the thread pool per
    action (bench/RESULTS.md). A replay says so and sends the first answer's stored JSON as it is:
    the same bytes, even if the read model has changed since."""
    headers = {"ETag": f'"{outcome.body.version}"'}
    if outcome.stored is not None:
        headers["Idempotent-Replayed"] = "true"
        content = outcome.stored
    else:
        content = outcome.body.model_dump_json()
    return Response(content, status_code=outcome.status, media_type="application/json", headers=headers)


@router.post("/hazards", status_code=201, response_model=HazardOut,
             responses={**errors(401, 403, 409, 422), **BAD_BODY, 201: HAZARD}, summary="报告隐患 (report)")
def report_hazard(
    ctx: Ctx,
    caller: Caller,
    db: Db,
    body: Annotated[ReportBody, Body(openapi_examples={"煤矿": {"value": EXAMPLES["report"]}})],
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    outcome = commands.report_hazard(db, caller, body, now=ctx.now(), idempotency_key=idempotency_key)
    return _answer(outcome)


@router.get("/hazards", response_model=HazardPage, responses=errors(401, 422),
            summary="隐患台账 (list, keyset pagination)")
def list_hazards(
    ctx: Ctx,
    caller: Caller,
    db: ReadDb,
    state: Annotated[list[State] | None, Query(description="可多次给出")] = None,
    level: Annotated[str | None, Query(pattern="^(general|major)$")] = None,
    region: Annotated[str | None, Query(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$", description="行政区划代码（含下级）")] = None,
    industry: Annotated[str | None, Query(description="、".join(INDUSTRIES))] = None,
    enterprise: Annotated[str | None, Query(description="统一社会信用代码")] = None,
    overdue: bool | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    blacklisted: Annotated[bool | None, Query(description="其企业当前在黑名单内（true）或不在（false）")] = None,
) -> HazardPage:
    return hazards.list_view(
        db, caller, now=ctx.now(), state=[s.value for s in state] if state else None, level=level,
        region=region, industry=industry, enterprise=enterprise, overdue=overdue, q=q, cursor=cursor,
        limit=limit, blacklisted=blacklisted,
    )


@router.get("/hazards/{hazard_id}", response_model=HazardOut, responses=errors(401, 404, 422),
            summary="隐患详情，含当前用户可执行的操作")
def get_hazard(ctx: Ctx, caller: Caller, db: ReadDb, hazard_id: IdPath, response: Response) -> HazardOut:
    hazard = hazards.get_view(db, caller, hazard_id, now=ctx.now())
    response.headers["ETag"] = f'"{hazard.version}"'
    return hazard


@router.get("/hazards/{hazard_id}/events", response_model=list[EventOut], responses=errors(401, 404, 422),
            summary="审计轨迹")
def hazard_events(caller: Caller, db: ReadDb, hazard_id: IdPath) -> list[EventOut]:
    return hazards.events_view(db, caller, hazard_id)


@router.post("/hazards/{hazard_id}/attachments", status_code=201, response_model=AttachmentOut,
             responses={**ERRORS, **BAD_BODY},
             summary="上传附件（JPEG/PNG/WebP/PDF，记录 SHA-256）")
def upload_attachment(ctx: Ctx, caller: Caller, hazard_id: IdPath, file: Annotated[UploadFile, File()],
                      response: Response) -> AttachmentOut:
    """Each accepted file is an `attach` event, so the hazard's version moves on: the answer's
    `hazard_version` (and ETag) is what a following action's If-Match should carry."""
    saved = attachments.save(
        ctx.uow, caller, hazard_id, filename=file.filename or "upload", stream=file.file,
        root=ctx.settings.attachments_dir, max_bytes=ctx.settings.max_attachment_bytes, now=ctx.now(),
    )
    response.headers["ETag"] = f'"{saved.hazard_version}"'
    return saved


def _action_route(action: str):
    spec = LIFECYCLE[action]
    model = spec.body
    sources = "、".join(STATE_LABELS[s] for s in spec.sources) or "—"

    def act(
        ctx: Ctx,
        caller: Caller,
        db: Db,
        hazard_id: IdPath,
        body: Annotated[model, Body(openapi_examples={"示例": {"value": EXAMPLES.get(action, {})}})],  # type: ignore[valid-type]
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response:
        outcome = commands.perform_action(
            db, ctx.settings, caller, hazard_id, action, body, now=ctx.now(),
            if_match=parse_if_match(if_match), idempotency_key=idempotency_key,
        )
        return _answer(outcome)

    act.__name__ = f"action_{action}"
    router.add_api_route(
        f"/hazards/{{hazard_id}}/actions/{action}", act, methods=["POST"], status_code=200, response_model=HazardOut,
        responses={**ERRORS, **BAD_BODY, 200: HAZARD},
        summary=f"{spec.label} ({action})",
        description=f"允许的角色：{'、'.join(sorted(spec.roles))}；允许的状态：{sources}。",
    )


for _name, _spec in LIFECYCLE.items():
    if _name != "report" and _spec.lifecycle:
        _action_route(_name)
