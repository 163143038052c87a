"""The caller's inbox: to-dos computed from the hazards in scope, and messages."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.reads import inbox
from app.api.deps import Caller, Ctx, Db, IdPath, ReadDb
from app.api.schemas import ErrorOut, InboxOut, MessageOut
from services.escalation.ladder import load_config

router = APIRouter(prefix="/api/v1", tags=["inbox"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "未登录或令牌无效", "model": ErrorOut},
    422: {"description": "参数不合法（如分页游标无效）", "model": ErrorOut},
}
_ladder = lru_cache(maxsize=4)(load_config)  # the reminder offset sets what is "due soon"


@router.get("/me/inbox", response_model=InboxOut, responses=ERRORS, summary="我的待办和消息")
def my_inbox(ctx: Ctx, caller: Caller, db: ReadDb, cursor: str | None = None,
             limit: Annotated[int, Query(ge=1, le=200)] = 50) -> InboxOut:
    """To-dos (what waits for the caller's role, overdue first, then by deadline; on the first
    page only) and messages, newest first with keyset pagination (`cursor`, `limit`)."""
    return inbox.view(db, caller, now=ctx.now(), cursor=cursor, limit=limit,
                      ladder=_ladder(ctx.settings.escalation_config))


class ReadAllOut(BaseModel):
    marked: int  # messages that were unread until now


@router.post("/me/inbox/read", response_model=ReadAllOut, responses={401: ERRORS[401]}, summary="全部消息标记已读")
def mark_all_read(ctx: Ctx, caller: Caller, db: Db) -> ReadAllOut:
    """Idempotent: the second call marks nothing."""
    return ReadAllOut(marked=inbox.mark_all_read(db, caller, now=ctx.now()))


@router.post("/me/inbox/{item_id}/read", response_model=MessageOut,
             responses={**ERRORS, 404: {"description": "消息不存在", "model": ErrorOut}}, summary="标记消息已读")
def mark_read(ctx: Ctx, caller: Caller, db: Db, item_id: IdPath) -> MessageOut:
    return inbox.mark_read(db, caller, item_id, now=ctx.now())
