"""Overdue hazards onto the month's 通报 list: every `escalate` event whose step, or one of the
steps it skipped, is `publicize` (a catch-up that fired `elevate` or `refer` in its place still
names the hazard publicly: the step's effect happens, only its own notice is left out).

Set-based: one query finds the candidate events that have no entry of that hazard created since
(an entry is written after its event, so `created_at >= occurred_at` marks the event as taken);
the rest of the work is per batch. The entry's `key` (`overdue_hazard:<hazard id>:<month>`) is
what makes it once: `items.propose` inserts a key at most once, however often or concurrently the
sweep runs. The list is that of the committee office that publicizes: the listing level's office
when the hazard is listed, else its county's.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import structlog
from sqlalchemy import and_, exists, select

from db.engine import UnitOfWork
from db.models import AuditEvent, BulletinItem, Enterprise, Hazard
from services.bulletins.items import OVERDUE_HAZARD, propose
from services.calendar.workdays import WorkCalendar, default_calendar
from services.kernel import regions
from services.kernel.clock import SHANGHAI, cn_date, local_date

log = structlog.get_logger("hazard.bulletins")

E, B, H, EN = AuditEvent.__table__, BulletinItem.__table__, Hazard.__table__, Enterprise.__table__
STEP = "publicize"


def month_of(moment: datetime) -> str:
    return f"{moment.astimezone(SHANGHAI):%Y-%m}"


def office_region(region_code: str, listing_level: str | None) -> str:
    """The committee office that names the hazard: its listing level's, else its county's."""
    return regions.ancestor_code(region_code, listing_level or "county")


def _publicized(payload: str) -> bool:
    body = json.loads(payload).get("body") or {}
    return body.get("step") == STEP or STEP in (body.get("skipped") or [])


def candidates():
    """The `escalate` events that may name `publicize` (the payload is canonical JSON, so the word
    appears quoted) and have no entry of their hazard written since."""
    taken = exists().where(and_(B.c.hazard_id == E.c.hazard_id, B.c.kind == OVERDUE_HAZARD,
                                B.c.created_at >= E.c.occurred_at))
    return (select(E.c.id, E.c.hazard_id, E.c.payload, E.c.occurred_at, H.c.code, H.c.title, H.c.deadline,
                   H.c.region_code, H.c.listing_level, H.c.enterprise_id, EN.c.name.label("enterprise"),
                   EN.c.supervising_department)
            .join(H, H.c.id == E.c.hazard_id).outerjoin(EN, EN.c.id == H.c.enterprise_id)
            .where(E.c.action == "escalate", E.c.payload.contains(f'"{STEP}"', autoescape=True), ~taken)
            .order_by(E.c.id))


def reason(row: Any, calendar: WorkCalendar) -> str:
    """整改期限、逾期工作日数、企业及其行业主管部门: what the 通报 names."""
    body = json.loads(row.payload).get("body") or {}
    as_of = date.fromisoformat(body["as_of"]) if body.get("as_of") else local_date(row.occurred_at)
    if row.deadline is not None:
        days = max(calendar.working_days_between(row.deadline, as_of), 0)
        late = f"整改期限{cn_date(row.deadline)}，截至{cn_date(as_of)}逾期{days}个工作日未完成整改"
    else:
        late = f"截至{cn_date(as_of)}逾期未完成整改"
    enterprise = row.enterprise or "（生产经营单位未确定）"
    department = row.supervising_department or "（行业主管部门未登记）"
    return f"{row.code}「{row.title}」：{late}；生产经营单位：{enterprise}；行业主管部门：{department}"


def sweep(uow: UnitOfWork, *, now: datetime, calendar: WorkCalendar | None = None,
          batch: int = 500) -> dict[str, int]:
    """Propose an entry for every publicized hazard without one; returns the counts."""
    calendar = calendar or default_calendar()
    counts = {"events": 0, "proposed": 0, "existing": 0}
    after = 0
    while True:
        with uow.write() as session:
            rows = session.connection().execute(candidates().where(E.c.id > after).limit(batch)).all()
            if not rows:
                break
            after = rows[-1].id
            for row in rows:
                if not _publicized(row.payload):
                    continue
                counts["events"] += 1
                month = month_of(row.occurred_at)
                made = propose(session, key=f"{OVERDUE_HAZARD}:{row.hazard_id}:{month}",
                               region_code=office_region(row.region_code, row.listing_level), month=month,
                               kind=OVERDUE_HAZARD, reason=reason(row, calendar), now=now, hazard_id=row.hazard_id,
                               enterprise_id=row.enterprise_id)
                counts["proposed" if made else "existing"] += 1
    log.info("bulletin_collect", **counts)
    return counts
