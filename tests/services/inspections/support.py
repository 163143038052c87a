"""Helpers of the self-inspection tests: a return body, filing through the real transaction path."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from db.engine import transaction
from db.models import RecordEvent
from services.inspections import returns


def return_body(month: str = "2026-11", **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "month": month, "checked_from": f"{month}-02", "checked_to": f"{month}-20",
        "scope": "井下采掘工作面、主运输系统、通风系统", "principal": "王建国",
        "hazards": [{"title": "皮带机护罩缺失", "description": "主斜井皮带机机头护罩缺失，未设警示。",
                     "location": "主斜井皮带机机头"}],
    }
    body.update(over)
    return body


def nil_body(month: str = "2026-11", **over: Any) -> dict[str, Any]:
    return return_body(month, nil_return=True, hazards=[], **over)


def file(factory, world, user: str, body: dict[str, Any], now: datetime) -> int:
    with transaction(factory) as s:
        return returns.file_return(s, world.p(user), body, now=now)


def chain(factory, subject: str) -> list[tuple[str, int]]:
    with transaction(factory) as s:
        return [(e.action, e.seq) for e in s.scalars(
            select(RecordEvent).where(RecordEvent.subject == subject).order_by(RecordEvent.seq))]
