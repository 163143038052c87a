"""A published task list as an Excel workbook (issue 14, item 5): the plan in its own columns
(序号, 任务, 责任单位 and 完成时限 as written), each section a heading row, plus 进展情况 and 完成情况
per unit. The progress page's filter applies (services/tasks/progress.py); pages do not. The plan's
tasks, units and parts are read once each."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import PlanTask, PlanTaskUnit, TaskAssignment, TaskPlan
from services.kernel import xlsx
from services.kernel.clock import local_date
from services.kernel.errors import NotFound
from services.tasks import reads
from services.tasks.progress import ROLE_ORDER, PartFilter, PartRow, matching_tasks, part_clauses, readable_plan
from services.tasks.states import TASK_STATE_LABELS, TaskState

EXPORT_COLUMNS = (xlsx.Column("序号", 8), xlsx.Column("任务", 60), xlsx.Column("责任单位", 30),
                  xlsx.Column("完成时限", 18), xlsx.Column("进展情况", 48), xlsx.Column("完成情况", 48))
SECTION_FILL = "EDEDED"
OVERDUE_FILL = "F8CBAD"


def _short_date(moment: datetime | None) -> str:
    if moment is None:
        return ""
    day = local_date(moment)
    return f"{day.year}-{day.month:02d}-{day.day:02d}"


def _units_written(units: list[PlanTaskUnit]) -> str:
    return "，".join(u.name + (u.role if u.role in ("牵头", "配合") else "") for u in units)


def _deadline_written(task: PlanTask) -> str:
    if task.deadline_text:
        return task.deadline_text
    return task.deadline.isoformat() if task.deadline else ""


def progress_text(parts: list[PartRow]) -> str:
    """进展情况: per unit its latest progress report and its date."""
    lines = []
    for row in parts:
        p = row.part
        if p.last_progress:
            lines.append(f"{p.unit_name}：{p.last_progress}（{_short_date(p.last_progress_at)}）")
        else:
            lines.append(f"{p.unit_name}：暂无进展报告")
    return "\n".join(lines)


def completion_text(parts: list[PartRow]) -> str:
    """完成情况: per unit its state, what it reported as done and when the office verified it."""
    lines = []
    for row in parts:
        p = row.part
        line = f"{p.unit_name}：{row.label}" + ("（逾期）" if row.overdue else "")
        if p.completion:
            line += f"；{p.completion}"
        if p.verified_at is not None:
            line += f"；{_short_date(p.verified_at)} 核查通过"
        lines.append(line)
    return "\n".join(lines)


def export_xlsx(session: Session, principal: Any, plan_id: int, flt: PartFilter, *,
                now: datetime) -> tuple[TaskPlan, bytes]:
    """The published plan in its own columns (序号, 任务, 责任单位 and 完成时限 as written), each
    section as a heading row, plus 进展情况 and 完成情况 per unit; the filter applies (pages do not).
    Built by `services.kernel.xlsx`: what a unit typed stays text, never a formula."""
    plan = readable_plan(session, principal, plan_id)
    if plan.state != "published":
        raise NotFound("草稿计划尚未发布，没有办理情况可导出")
    today = local_date(now)
    task_ids = list(session.scalars(matching_tasks(plan.id, flt, today).order_by(PlanTask.seq)))
    tasks = list(session.scalars(select(PlanTask).where(PlanTask.plan_id == plan.id).order_by(PlanTask.seq)))
    wanted = set(task_ids)
    units: dict[int, list[PlanTaskUnit]] = {}
    for u in session.scalars(select(PlanTaskUnit).join(PlanTask, PlanTask.id == PlanTaskUnit.task_id)
                             .where(PlanTask.plan_id == plan.id).order_by(PlanTaskUnit.task_id, PlanTaskUnit.seq)):
        units.setdefault(u.task_id, []).append(u)
    parts: dict[int, list[PartRow]] = {i: [] for i in task_ids}
    query = (select(TaskAssignment).where(TaskAssignment.plan_id == plan.id, *part_clauses(flt, today))
             .order_by(TaskAssignment.task_id, ROLE_ORDER, TaskAssignment.id))
    for part in session.scalars(query):
        if part.task_id in wanted:
            parts[part.task_id].append(PartRow(part, TASK_STATE_LABELS[TaskState(part.state)],
                                               reads.is_overdue(part, today)))
    book = xlsx.Book()
    sheet = book.sheet("任务清单", EXPORT_COLUMNS)
    section = None
    for task in tasks:
        if task.id not in wanted:
            continue
        if task.section and task.section != section:
            section = task.section
            sheet.append([None, task.section, None, None, None, None], fill=SECTION_FILL)
        rows = parts[task.id]
        sheet.append([task.number, f"{task.title}\n{task.text}" if task.text and task.text != task.title else task.title,
                      _units_written(units.get(task.id, [])) or "、".join(r.part.unit_name for r in rows),
                      _deadline_written(task), progress_text(rows), completion_text(rows)],
                     fill=OVERDUE_FILL if any(r.overdue for r in rows) else None)
    return plan, book.to_bytes()
