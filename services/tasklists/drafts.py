"""An imported task list kept as a draft plan, reviewed and corrected, then published (issue 14,
item 2). `import_draft` stores the preview (services/tasklists/preview.py): the same file from the
same issuer is the same plan, so a second import writes nothing and answers the first. A committee
user of the issuer's region corrects a task's units (re-split and re-resolved) and deadline, or marks
it reviewed as it is; `publish` is refused while a task that needs review has not been reviewed, and
is a compare-and-set on the plan's version (two clicks: one publishes, the other is a 409). Every
act is an event on the plan's record chain (`plan:<id>`). Nothing here commits.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import Organisation, PlanTask, PlanTaskUnit, TaskPlan
from services.accounts.auth import SYSTEM
from services.audit import records
from services.kernel import regions
from services.kernel.errors import Conflict, Forbidden, NotFound, invalid_field
from services.kernel.inputs import control_message
from services.lifecycle.roles import Role
from services.organisations.resolve import Resolver
from services.tasklists import deadlines, units
from services.tasklists.models import NO_UNITS, REVIEW_FLAGS, UNRESOLVED_UNIT
from services.tasklists.preview import CHECK_UNIT, preview
from services.tasks.assign import assign

FLAG_LABELS = {
    "relative_deadline": "时限为相对时间", "default_deadline": "无时限（按年底）", "unparsed_deadline": "时限无法识别",
    "no_units": "无责任单位", "unresolved_unit": "责任单位未识别", "check_unit": "责任单位需核对",
    "misplaced_cell": "表格错列", "empty_text": "任务内容为空", "truncated": "内容过长已截断",
    "number_gap": "编号不连续", "year_long": "全年任务（按月报告进展）",
}
_UNIT_FLAGS = {UNRESOLVED_UNIT, CHECK_UNIT, NO_UNITS}
_DEADLINE_FLAGS = {"relative_deadline", "default_deadline", "unparsed_deadline", "year_long"}
UNITS_TEXT_MAX = 1000
DEADLINE_TEXT_MAX = 200
YEARS = range(2000, 2101)


def subject(plan_id: int) -> str:
    return f"plan:{plan_id}"


def needs_review(flags: list[str]) -> bool:
    return any(f in REVIEW_FLAGS or f == CHECK_UNIT for f in flags)


def _bytes(source: bytes | str | os.PathLike) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    return Path(source).read_bytes()


def _existing(session: Session, issuer_id: int, sha: str) -> TaskPlan | None:
    return session.scalars(select(TaskPlan).where(TaskPlan.issuer_org_id == issuer_id,
                                                  TaskPlan.source_sha256 == sha)).one_or_none()


def import_draft(session: Session, actor, source: bytes | str | os.PathLike, *, filename: str | None,
                 title: str, issued_by: str, year: int, now: datetime) -> tuple[TaskPlan, bool]:
    """(the plan, whether this call created it). The same file from the same issuer again: the
    existing plan, created False, nothing written. `actor` None is the system (the CLI)."""
    plan, created, _ = import_with_preview(session, actor, source, filename=filename, title=title,
                                           issued_by=issued_by, year=year, now=now)
    return plan, created


def import_with_preview(session: Session, actor, source: bytes | str | os.PathLike, *, filename: str | None,
                        title: str, issued_by: str, year: int,
                        now: datetime) -> tuple[TaskPlan, bool, dict[str, Any]]:
    """`import_draft`, also answering the preview it stored (the CLI's --json prints it)."""
    if year not in YEARS:
        raise invalid_field("year", "计划年度应为 2000—2100 之间的年份")
    data = _bytes(source)
    sha = hashlib.sha256(data).hexdigest()
    out = preview(session, data, filename=filename, title=title, issued_by=issued_by, year=year)
    issuer = out["plan"]["issued_by"]
    if actor is not None and actor.id is not None and (actor.role != Role.COMMITTEE
                                                       or actor.region_code != issuer["region_code"]):
        raise Forbidden("只有印发单位所在地的安委办可以导入该计划")
    found = _existing(session, issuer["id"], sha)
    if found is not None:
        return found, False, out
    actor = actor or SYSTEM
    try:
        with session.begin_nested():
            plan = TaskPlan(title=out["plan"]["title"], year=year, issuer_org_id=issuer["id"],
                            region_code=issuer["region_code"], source_filename=(filename or "plan")[:255],
                            source_sha256=sha, state="draft", created_by_id=actor.id, created_at=now, version=1)
            session.add(plan)
            session.flush()
    except IntegrityError:  # the same file imported at the same moment by someone else
        found = _existing(session, issuer["id"], sha)
        if found is None:
            raise
        return found, False, out
    for seq, t in enumerate(out["tasks"], 1):
        task = PlanTask(plan_id=plan.id, seq=seq, section=t["section"][:200], number=t["number"][:40],
                        title=t["title"][:400], text=t["text"], deadline=date.fromisoformat(t["deadline"])
                        if t["deadline"] else None, deadline_text=t["deadline_text"][:200],
                        flags=json.dumps(t["flags"]), reviewed=False)
        session.add(task)
        session.flush()
        _store_units(session, task.id, t["units"])
    records.append(session, subject=subject(plan.id), action="import", actor=actor, now=now,
                   payload={"title": plan.title, "year": year, "issuer_org_id": issuer["id"], "sha256": sha,
                            "filename": plan.source_filename, "tasks": len(out["tasks"]),
                            "needs_review": out["summary"]["needs_review"]})
    return plan, True, out


def _store_units(session: Session, task_id: int, found: list[dict[str, Any]]) -> None:
    for seq, u in enumerate(found, 1):
        session.add(PlanTaskUnit(task_id=task_id, seq=seq, name=u["name"][:100], role=u["role"][:8],
                                 org_id=u["org_id"], org_ids=json.dumps(u["org_ids"]),
                                 resolved_as=(u["resolved_as"] or None) and u["resolved_as"][:200]))


# --- reads ------------------------------------------------------------------------------------------


def _readable(principal) -> None:
    if principal.role != Role.COMMITTEE:
        raise Forbidden("任务清单由安委办查看和发布")


def _plan(session: Session, principal, plan_id: int, *, lock: bool = False) -> TaskPlan:
    _readable(principal)
    query = select(TaskPlan).where(TaskPlan.id == plan_id).execution_options(populate_existing=True)
    plan = session.scalars(query.with_for_update() if lock else query).one_or_none()
    if plan is None or not regions.within(plan.region_code, principal.region_code):
        raise NotFound(f"计划 #{plan_id} 不存在")
    return plan


def may_edit(principal, plan: TaskPlan) -> bool:
    return principal.role == Role.COMMITTEE and principal.region_code == plan.region_code and plan.state == "draft"


def _editable(session: Session, principal, plan_id: int) -> TaskPlan:
    plan = _plan(session, principal, plan_id)
    if principal.region_code != plan.region_code:
        raise Forbidden("只有印发单位所在地的安委办可以核对和发布该计划")
    if plan.state != "draft":
        raise Conflict("该计划已发布，不能再修改")
    return plan


@dataclass
class PlanRow:
    plan: TaskPlan
    issuer: str
    tasks: int
    open_reviews: int


def list_plans(session: Session, principal) -> list[PlanRow]:
    _readable(principal)
    plans = session.scalars(select(TaskPlan).where(TaskPlan.region_code.startswith(principal.region_prefix))
                            .order_by(TaskPlan.year.desc(), TaskPlan.id.desc()).limit(500)).all()
    ids = [p.id for p in plans]
    counts: dict[int, list[int]] = {i: [0, 0] for i in ids}
    if ids:
        for plan_id, flags, reviewed in session.execute(
                select(PlanTask.plan_id, PlanTask.flags, PlanTask.reviewed).where(PlanTask.plan_id.in_(ids))):
            counts[plan_id][0] += 1
            counts[plan_id][1] += int(not reviewed and needs_review(json.loads(flags)))
    names = {i: n for i, n in session.execute(select(Organisation.id, Organisation.name).where(
        Organisation.id.in_({p.issuer_org_id for p in plans})))} if plans else {}
    return [PlanRow(p, names.get(p.issuer_org_id, ""), *counts[p.id]) for p in plans]


def load(session: Session, principal, plan_id: int) -> tuple[TaskPlan, str, list[tuple[PlanTask, list[PlanTaskUnit]]]]:
    """The plan, its issuer's name, and its tasks in order with their units."""
    plan = _plan(session, principal, plan_id)
    tasks = session.scalars(select(PlanTask).where(PlanTask.plan_id == plan.id).order_by(PlanTask.seq)).all()
    by_task: dict[int, list[PlanTaskUnit]] = {t.id: [] for t in tasks}
    if tasks:
        for u in session.scalars(select(PlanTaskUnit).where(PlanTaskUnit.task_id.in_(by_task))
                                 .order_by(PlanTaskUnit.task_id, PlanTaskUnit.seq)):
            by_task[u.task_id].append(u)
    issuer = session.scalar(select(Organisation.name).where(Organisation.id == plan.issuer_org_id)) or ""
    return plan, issuer, [(t, by_task[t.id]) for t in tasks]


def open_reviews(session: Session, plan_id: int) -> list[PlanTask]:
    tasks = session.scalars(select(PlanTask).where(PlanTask.plan_id == plan_id, PlanTask.reviewed.is_(False))
                            .order_by(PlanTask.seq)).all()
    return [t for t in tasks if needs_review(json.loads(t.flags))]


# --- acts -------------------------------------------------------------------------------------------


def _task(session: Session, plan: TaskPlan, task_id: int) -> PlanTask:
    task = session.get(PlanTask, task_id)
    if task is None or task.plan_id != plan.id:
        raise NotFound(f"计划 #{plan.id} 中没有任务 #{task_id}")
    return task


def _bump(session: Session, plan: TaskPlan) -> None:
    session.execute(update(TaskPlan).where(TaskPlan.id == plan.id).values(version=TaskPlan.version + 1))


def correct_task(session: Session, principal, plan_id: int, task_id: int, *, units_text: str,
                 deadline: date | None = None, deadline_text: str = "", title: str | None = None,
                 now: datetime) -> PlanTask:
    """Replace a draft task's units (the text re-split and re-resolved) and deadline (a date given,
    or the text parsed with the plan's year), and mark it reviewed."""
    plan = _editable(session, principal, plan_id)
    task = _task(session, plan, task_id)
    units_text, deadline_text = (units_text or "").strip(), (deadline_text or "").strip()
    for name, text, limit in (("units", units_text, UNITS_TEXT_MAX), ("deadline_text", deadline_text, DEADLINE_TEXT_MAX),
                              ("title", title or "", 400)):
        problem = control_message(text) if text else None
        if problem or len(text) > limit:
            raise invalid_field(name, problem or f"不超过 {limit} 字")
    found, _ = units.parse(units_text)
    if not found:
        raise invalid_field("units", "请填写责任单位，多个单位用顿号分隔，例如：市应急局牵头，市公安局配合")
    resolver = Resolver(session, plan.region_code)
    flags = [f for f in json.loads(task.flags) if f not in _UNIT_FLAGS]
    resolved = []
    for unit in found:
        r = resolver.resolve(unit.name)
        if r.kind == "unknown" and UNRESOLVED_UNIT not in flags:
            flags.append(UNRESOLVED_UNIT)
        resolved.append({"name": unit.name, "role": unit.role, "org_id": r.org_ids[0] if r.kind == "org" else None,
                         "org_ids": list(r.org_ids), "resolved_as": r.label or None})
    if deadline is None and deadline_text:
        deadline, deadline_flags = deadlines.parse(deadline_text, plan.year)
        flags = [f for f in flags if f not in _DEADLINE_FLAGS] + deadline_flags
        if deadline is None:
            raise invalid_field("deadline_text", "未能识别完成时限，请填写日期（如 2021-06-30）或“年底前”“全年”")
    elif deadline is not None:
        flags = [f for f in flags if f not in _DEADLINE_FLAGS]
        deadline_text = deadline_text or f"{deadline.year}年{deadline.month}月{deadline.day}日前"
    else:
        deadline, deadline_text = task.deadline, task.deadline_text
    if deadline is not None and deadline.year not in YEARS:
        raise invalid_field("deadline", "完成时限的年份不对")
    session.execute(PlanTaskUnit.__table__.delete().where(PlanTaskUnit.task_id == task.id))
    _store_units(session, task.id, resolved)
    task.deadline, task.deadline_text, task.flags, task.reviewed = deadline, deadline_text, json.dumps(flags), True
    if title and title.strip():
        task.title = title.strip()
    _bump(session, plan)
    records.append(session, subject=subject(plan.id), action="correct", actor=principal, now=now,
                   payload={"task_id": task.id, "units": [(u["name"], u["role"], u["org_id"], u["org_ids"])
                                                          for u in resolved],
                            "deadline": deadline.isoformat() if deadline else None, "deadline_text": deadline_text,
                            "flags": flags, "title": task.title})
    session.flush()
    return task


def mark_reviewed(session: Session, principal, plan_id: int, task_id: int, *, now: datetime) -> PlanTask:
    plan = _editable(session, principal, plan_id)
    task = _task(session, plan, task_id)
    if not task.reviewed:
        task.reviewed = True
        _bump(session, plan)
        records.append(session, subject=subject(plan.id), action="review", actor=principal, now=now,
                       payload={"task_id": task.id})
        session.flush()
    return task


def publish(session: Session, principal, plan_id: int, *, now: datetime, version: int | None = None) -> TaskPlan:
    plan = _editable(session, principal, plan_id)
    expected = plan.version if version is None else version
    waiting = open_reviews(session, plan.id)
    if waiting:
        names = "、".join(f"{t.number}「{t.title[:20]}」" for t in waiting[:10])
        more = f"等 {len(waiting)} 项" if len(waiting) > 10 else ""
        raise Conflict(f"还有任务需要核对：{names}{more}；请更正或标记已核对后再发布")
    done = session.execute(update(TaskPlan).where(TaskPlan.id == plan.id, TaskPlan.version == expected,
                                                  TaskPlan.state == "draft")
                           .values(state="published", published_by_id=principal.id, published_at=now,
                                   version=TaskPlan.version + 1))
    if done.rowcount != 1:
        raise Conflict("该计划已被他人发布或修改，请刷新后再试")
    count = session.scalar(select(func.count()).select_from(PlanTask).where(PlanTask.plan_id == plan.id))
    event = records.append(session, subject=subject(plan.id), action="publish", actor=principal, now=now,
                           payload={"tasks": count, "version": expected + 1})
    session.refresh(plan)
    assigned = assign(session, plan, principal, now=now, publish_event_id=event.id)
    records.append(session, subject=subject(plan.id), action="assign", actor=principal, now=now,
                   payload={"parts": assigned.parts, "units": assigned.units, "to_office": assigned.to_office})
    return plan


def default_issuer(session: Session, principal) -> str:
    """The name of the 安委办 of the user's region (the upload form's default 印发单位), or ''."""
    names = session.scalars(select(Organisation.name).where(
        Organisation.region_code == principal.region_code, Organisation.kind == "committee_office",
        Organisation.active.is_(True)).limit(2)).all()
    return names[0] if len(names) == 1 else ""
