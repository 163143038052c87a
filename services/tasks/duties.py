"""The office's daily task duty (flows/office.py, `tasks`): the task ladder's sweep as of today,
with the deployment's ladder, answering its counts."""

from __future__ import annotations

from datetime import datetime

from db.engine import UnitOfWork
from services.calendar.workdays import WorkCalendar
from services.escalation.ladder import configured_ladder
from services.tasks import sweep as task_sweep


def sweep(uow: UnitOfWork, *, now: datetime, calendar: WorkCalendar) -> dict[str, int]:
    return task_sweep.sweep(uow, now=now, calendar=calendar, config=configured_ladder()).counts()
