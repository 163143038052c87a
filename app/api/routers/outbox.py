"""Dead letters of the notification outbox: deliveries that failed for good, or whose outcome is
unknown, listed and queued again by an administrator."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from db.engine import read_only, transaction
from services.outbox import dead_letters
from app.api.deps import Caller, Ctx, IdPath
from app.api.schemas import DeadLetterPage, ErrorOut, RetryOut
from services.accounts.auth import Principal
from services.kernel.errors import Forbidden
from services.lifecycle.roles import Role

router = APIRouter(prefix="/api/v1/outbox", tags=["outbox"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "未登录或令牌无效", "model": ErrorOut},
    403: {"description": "只有管理员可以处理投递失败的通知", "model": ErrorOut},
    422: {"description": "参数不合法", "model": ErrorOut},
}


def admin_only(caller: Caller) -> Principal:
    if caller.role != Role.ADMIN:
        raise Forbidden("只有管理员可以处理投递失败的通知", code="role")
    return caller


Admin = Annotated[Principal, Depends(admin_only)]


@router.get("/dead", response_model=DeadLetterPage, responses=ERRORS, summary="投递失败的通知（死信）")
def list_dead(ctx: Ctx, admin: Admin, after: Annotated[int, Query(ge=0, lt=2**63)] = 0,
              limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict[str, Any]:
    """Oldest first; `next_cursor` is the `after` of the next page."""
    with read_only(ctx.factory) as session:
        items = dead_letters.list_dead(session, limit=limit + 1, after_id=after)
    return {"items": items[:limit], "next_cursor": items[limit - 1]["id"] if len(items) > limit else None}


@router.post("/dead/{delivery_id}/retry", response_model=RetryOut, summary="重新投递一条失败的通知",
             responses={**ERRORS, 404: {"description": "投递记录不存在", "model": ErrorOut},
                        409: {"description": "该投递不在失败队列中", "model": ErrorOut}})
def retry_dead(ctx: Ctx, admin: Admin, delivery_id: IdPath) -> dict[str, Any]:
    with transaction(ctx.factory) as session:
        dead_letters.retry(session, delivery_id, now=ctx.now())
    return {"id": delivery_id, "status": "pending"}
