"""Dead letters: the deliveries that failed for the last time, or whose outcome is unknown
(services/outbox/deliver.py), listed and queued again when a person decides (`hazard outbox dead`,
`hazard outbox retry`, `GET /api/v1/outbox/dead`, `POST /api/v1/outbox/dead/{id}/retry`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import structlog
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import Delivery
from services.kernel.errors import Conflict, NotFound

log = structlog.get_logger("hazard.outbox")

D = Delivery.__table__


class DeadLetterOut(BaseModel):
    id: int
    channel: str
    recipient: str
    user_id: int | None
    hazard_id: int | None
    subject: str
    attempts: int
    last_error: str | None
    dedupe_key: str
    created_at: str


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    next_cursor: int | None  # the `after_id` of the next page


def dead_view(row: Any) -> DeadLetterOut:
    return DeadLetterOut(id=row.id, channel=row.channel, recipient=row.recipient, user_id=row.user_id,
                         hazard_id=row.hazard_id, subject=row.subject, attempts=row.attempts,
                         last_error=row.last_error, dedupe_key=row.dedupe_key, created_at=row.created_at.isoformat())


def list_dead(session: Session, *, limit: int = 50, after_id: int = 0) -> list[DeadLetterOut]:
    """Dead letters, oldest first, keyset-paginated on the id."""
    rows = session.execute(select(D).where(D.c.status == "dead", D.c.id > after_id).order_by(D.c.id).limit(limit))
    return [dead_view(r) for r in rows]


def dead_page(session: Session, *, limit: int = 50, after_id: int = 0) -> DeadLetterPage:
    """One page of `list_dead` and the cursor of the next one (None on the last page)."""
    items = list_dead(session, limit=limit + 1, after_id=after_id)
    return DeadLetterPage(items=items[:limit], next_cursor=items[limit - 1].id if len(items) > limit else None)


def retry(session: Session, target: int | Literal["all"], *, now: datetime) -> int:
    """Queue dead letters again with a fresh count of attempts; returns how many. A person decides
    this, knowing the recipient may already have an uncertain one."""
    values = {"status": "pending", "attempts": 0, "available_at": now, "claimed_until": None, "started_at": None}
    if target == "all":
        return session.execute(update(D).where(D.c.status == "dead").values(values)).rowcount
    row = session.execute(select(D.c.status).where(D.c.id == target)).first() if 0 < target < 2**63 else None
    if row is None:
        raise NotFound(f"投递记录 {target} 不存在")
    if row.status != "dead":
        raise Conflict(f"投递记录 {target} 不在失败队列中（当前状态：{row.status}）", code="not_dead")
    session.execute(update(D).where(D.c.id == target, D.c.status == "dead").values(values))
    log.info("outbox_retry", delivery_id=target)
    return 1
