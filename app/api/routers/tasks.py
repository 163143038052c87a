"""Units' parts of published task lists (任务清单, issue 14): list, read, act, evidence files.

Shaped like the hazards' router: one route per action of `TASK_LIFECYCLE` a person may take (each
with its body's schema and example in the OpenAPI document), `If-Match` and `Idempotency-Key` on
actions, `ETag: "<version>"` on a part. Scope: 404 for a part the caller may not see.
"""

# No `from __future__ import annotations`: the per-action routes need their body types evaluated.

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, File, Query, Response, UploadFile
from fastapi.responses import FileResponse

from app.api.deps import Caller, Ctx, Db, IdempotencyKeyHeader, IdPath, IfMatch, ReadDb, parse_if_match
from app.api.schemas import ErrorOut
from services.kernel.errors import NotFound
from services.kernel.inputs import MAX_ID
from services.lifecycle.roles import ROLE_LABELS
from services.tasks import commands, files, reads
from services.tasks.body_examples import EXAMPLES
from services.tasks.lifecycle import TASK_LIFECYCLE
from services.tasks.models import TaskAttachmentOut, TaskPage, TaskPartOut
from services.tasks.states import TASK_STATE_LABELS, TaskState

router = APIRouter(prefix="/api/v1", tags=["tasks"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "请求体无法解析（不是 UTF-8 编码的 JSON，或 multipart 格式错误）", "model": ErrorOut},
    401: {"description": "未登录或令牌无效", "model": ErrorOut},
    403: {"description": "角色无权办理、不是承担单位或印发任务清单的安委办，或违反四眼原则", "model": ErrorOut},
    404: {"description": "任务不存在或不在办理范围内", "model": ErrorOut},
    409: {"description": "状态不允许，版本已变化（If-Match），或 Idempotency-Key 已用于另一个请求", "model": ErrorOut},
    422: {"description": "参数或请求体不合法（字段级中文提示）", "model": ErrorOut},
}
PART = {"model": TaskPartOut, "description": "承担单位的任务（含当前用户可执行的操作）"}
FILE_TYPES = {"image/jpeg": {}, "image/png": {}, "image/webp": {}, "application/pdf": {}}
Id = Annotated[int, Query(ge=1, le=MAX_ID)]


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: ERRORS[code] for code in codes}


def _answer(outcome: commands.TaskOutcome) -> Response:
    """The part (`TaskPartOut`) with its version as ETag, serialised once; a replayed
    Idempotency-Key sends the first answer's stored JSON as it was."""
    headers = {"ETag": f'"{outcome.body.version}"'}
    if outcome.stored is not None:
        headers["Idempotent-Replayed"] = "true"
        content = outcome.stored
    else:
        content = outcome.body.model_dump_json()
    return Response(content, status_code=outcome.status, media_type="application/json", headers=headers)


@router.get("/tasks", response_model=TaskPage, responses=errors(401, 422), summary="任务清单：承担单位的任务（分页）")
def list_tasks(
    ctx: Ctx,
    caller: Caller,
    db: ReadDb,
    plan_id: Id | None = None,
    org_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="承担单位（组织编号）")] = None,
    task_id: Id | None = None,
    state: Annotated[list[TaskState] | None, Query(description="可多次给出：" + "、".join(
        f"{s.value} {label}" for s, label in TASK_STATE_LABELS.items()))] = None,
    overdue: Annotated[bool | None, Query(description="已过完成时限且尚未报告完成")] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TaskPage:
    """A unit's user sees its organisation's parts; the issuing 安委办 and the offices and
    auditors above it see the plan's. In plan order, keyset-paginated (`cursor`, `limit`)."""
    return reads.list_view(db, caller, now=ctx.now(), plan_id=plan_id, org_id=org_id, task_id=task_id,
                           state=[s.value for s in state] if state else None, overdue=overdue, cursor=cursor,
                           limit=limit)


@router.get("/tasks/{assignment_id}", response_model=TaskPartOut, responses=errors(401, 404, 422),
            summary="一个承担单位的任务：任务内容、进展、完成与核查、轨迹、附件、可执行的操作")
def get_task(ctx: Ctx, caller: Caller, db: ReadDb, assignment_id: IdPath, response: Response) -> TaskPartOut:
    part = reads.get_view(db, caller, assignment_id, now=ctx.now())
    response.headers["ETag"] = f'"{part.version}"'
    return part


@router.post("/tasks/{assignment_id}/attachments", status_code=201, response_model=TaskAttachmentOut,
             responses=errors(400, 401, 403, 404, 409, 422),
             summary="上传佐证材料（JPEG/PNG/WebP/PDF，记录 SHA-256）")
def upload_task_attachment(ctx: Ctx, caller: Caller, assignment_id: IdPath,
                           file: Annotated[UploadFile, File()]) -> TaskAttachmentOut:
    """Only the unit's own users, not on a verified part. The upload is no event: name the file's
    id in a later action's `evidence` (report_progress, report_completion) to put it on the trail."""
    return files.save(ctx.uow, caller, assignment_id, filename=file.filename or "upload", stream=file.file,
                      root=ctx.settings.attachments_dir, max_bytes=ctx.settings.max_attachment_bytes, now=ctx.now())


@router.get("/tasks/{assignment_id}/attachments/{attachment_id}", response_model=None,
            responses={**errors(401, 404, 422), 200: {"description": "附件原文件", "content": FILE_TYPES}},
            summary="下载任务的附件")
def download_task_attachment(ctx: Ctx, caller: Caller, db: ReadDb, assignment_id: IdPath,
                             attachment_id: IdPath) -> Response:
    found = files.find(db, caller, assignment_id, attachment_id)
    path = files.path_for(ctx.settings.attachments_dir, found.sha256)
    if not path.is_file():
        raise NotFound("附件文件已不存在，请联系管理员")
    return FileResponse(path, media_type=found.content_type, headers={
        "Content-Disposition": f"attachment; filename=\"attachment-{found.id}\"; "
                               f"filename*=UTF-8''{quote(found.filename, safe='')}",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=300",
        "ETag": f'"{found.sha256}"'})


def _action_route(action: str) -> None:
    spec = TASK_LIFECYCLE[action]
    model = spec.body
    sources = "、".join(TASK_STATE_LABELS[s] for s in sorted(spec.sources, key=list(TaskState).index)) or "—"
    roles = "、".join(ROLE_LABELS.get(r, r) for r in sorted(spec.roles))

    def act(
        ctx: Ctx,
        caller: Caller,
        db: Db,
        assignment_id: IdPath,
        body: Annotated[model, Body(openapi_examples={"示例": {"value": EXAMPLES.get(action, {})}})],  # type: ignore[valid-type]
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response:
        outcome = commands.perform_action(db, caller, assignment_id, action, body, now=ctx.now(),
                                          if_match=parse_if_match(if_match), idempotency_key=idempotency_key)
        return _answer(outcome)

    act.__name__ = f"task_action_{action}"
    router.add_api_route(
        f"/tasks/{{assignment_id}}/actions/{action}", act, methods=["POST"], status_code=200,
        response_model=TaskPartOut, responses={**ERRORS, 200: PART}, summary=f"{spec.label} ({action})",
        description=f"允许的角色：{roles}；允许的状态：{sources}。",
    )


ACTIONS = tuple(name for name, spec in TASK_LIFECYCLE.items() if spec.sources and spec.lifecycle)
for _name in ACTIONS:
    _action_route(_name)
