"""The 月报's task section (issue 14, item 5): of the task lists issued in the region's subtree (the
plan's issuing region, `task_assignments.issuer_region_code`), the units' parts due in the month
(deadline in the month), by unit (the organisation's name), with a total row:

- due: deadline within the month;
- on time: completion reported (待核查 or 已核查) no later than the end of the deadline's day in
  Asia/Shanghai (`completion_reported_at` < the day's end; a return clears the report, so a part
  returned and not reported again is not done);
- late: completion reported after that;
- overdue: not reported and the deadline has passed (`services.tasks.engine.overdue_clause` at today);
- pending: not reported and not yet due; due = on time + late + overdue + pending.

One grouped query. The figures are as the records stand now; they are not part of the frozen 直报
figures (`MonthlyReport`, hashed at submission): the section is read beside them
(`submission_view.MonthlyReportView.tasks`), so the snapshots frozen before it existed, and those
frozen since, verify and load the same, and a city's roll-up of its counties' figures is unchanged.
Each part's own history is on its record chain.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from db.models import Organisation, TaskAssignment
from services.kernel import regions
from services.reports.monthly import deadline_end, month_period
from services.tasks.engine import overdue_clause
from services.tasks.states import TaskState

A = TaskAssignment.__table__
DONE = (TaskState.REPORTED.value, TaskState.VERIFIED.value)


class TaskUnitFigures(BaseModel):
    org_id: int | None  # None: the total
    unit: str
    due: int
    on_time: int
    late: int
    overdue: int
    pending: int
    on_time_pct: float | None


class TaskSection(BaseModel):
    month: str
    first: str
    last: str
    rows: list[TaskUnitFigures]
    total: TaskUnitFigures


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _figures(org_id: int | None, unit: str, n: dict[str, int]) -> TaskUnitFigures:
    return TaskUnitFigures(org_id=org_id, unit=unit, on_time_pct=_pct(n["on_time"], n["due"]),
                           **{k: n[k] for k in ("due", "on_time", "late", "overdue", "pending")})


def task_section(session: Session, region_code: str, month: str, *, today: date) -> TaskSection:
    p = month_period(month)
    reported = and_(A.c.state.in_(DONE), A.c.completion_reported_at.is_not(None))
    in_time = A.c.completion_reported_at < deadline_end(A.c.deadline)
    owed = A.c.state.not_in(DONE)
    rows = session.execute(
        select(A.c.org_id, Organisation.name, func.count().label("due"),
               _count(and_(reported, in_time)).label("on_time"),
               _count(and_(reported, ~in_time)).label("late"),
               _count(overdue_clause(today)).label("overdue"),
               _count(and_(owed, A.c.deadline >= today)).label("pending"))
        .join(Organisation, Organisation.id == A.c.org_id)
        .where(A.c.issuer_region_code.startswith(regions.scope_prefix(region_code), autoescape=True),
               A.c.deadline >= p.first, A.c.deadline < p.last + timedelta(days=1))
        .group_by(A.c.org_id, Organisation.name)).all()
    fields = ("due", "on_time", "late", "overdue", "pending")
    units = sorted(([r.org_id, r.name, {k: int(getattr(r, k)) for k in fields}] for r in rows),
                   key=lambda u: (-u[2]["overdue"], u[1], u[0]))
    total = {k: sum(u[2][k] for u in units) for k in fields}
    return TaskSection(month=month, first=p.first.isoformat(), last=p.last.isoformat(),
                       rows=[_figures(o, name, n) for o, name, n in units], total=_figures(None, "合计", total))
