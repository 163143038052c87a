"""Dead letters of the notification outbox: deliveries that failed for good, or whose outcome is
unknown, listed and queued again by an administrator."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from services.outbox import dead_letters
from app.api.deps import Caller, Ctx, Db, IdPath, ReadDb
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
def list_dead(admin: Admin, db: ReadDb, after: Annotated[int, Query(ge=0, lt=2**63)] = 0,
              limit: Annotated[int, Query(ge=1, le=200)] = 50) -> DeadLetterPage:
    """Oldest first; `next_cursor` is the `after` of the next page."""
    return dead_letters.dead_page(db, limit=limit, after_id=after)


@router.post("/dead/{delivery_id}/retry", response_model=RetryOut, summary="重新投递一条失败的通知",
             responses={**ERRORS, 404: {"description": "投递记录不存在", "model": ErrorOut},
                        409: {"description": "该投递不在失败队列中", "model": ErrorOut}})
def retry_dead(ctx: Ctx, admin: Admin, db: Db, delivery_id: IdPath) -> RetryOut:
    dead_letters.retry(db, delivery_id, now=ctx.now())
    return RetryOut(id=delivery_id, status="pending")
