"""Putting an entry on a region's 通报 list: once per `key`, whoever proposes it and however often
(the sweeps that propose entries may run again, or concurrently)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import BulletinItem

OVERDUE_HAZARD = "overdue_hazard"
MISSED_RETURN = "missed_return"
LATE_REPORT = "late_report"
OVERDUE_TASK = "overdue_task"
KINDS = {OVERDUE_HAZARD: "隐患逾期未整改", MISSED_RETURN: "未按时报送企业自查报告",
         LATE_REPORT: "未按时上报月报", OVERDUE_TASK: "任务逾期未完成"}


def propose(
    session: Session, *, key: str, region_code: str, month: str, kind: str, reason: str, now: datetime,
    hazard_id: int | None = None, enterprise_id: int | None = None,
    subject_region_code: str | None = None,
) -> bool:
    """Put the entry `key` on `region_code`'s list for `month` unless it is there already; True
    when this call put it there. Runs in a savepoint, so a concurrent proposer's entry (a unique
    `key` violation) leaves the caller's transaction usable."""
    if kind not in KINDS:
        raise ValueError(f"unknown 通报 entry kind: {kind}")
    if session.scalar(select(BulletinItem.id).where(BulletinItem.key == key)) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(BulletinItem(
                key=key, region_code=region_code, month=month, kind=kind, reason=reason,
                hazard_id=hazard_id, enterprise_id=enterprise_id,
                subject_region_code=subject_region_code, status="proposed", created_at=now))
    except IntegrityError:
        return False
    return True
