"""How a published task list stands (issue 14, item 5): the plan's progress page (its Excel export,
with the same filter, is services/tasks/export.py), and what the pages of 我的任务 and of one part add to `services.tasks.reads` (the plan
choices, the four-eyes explanations).

Every read is a bounded number of queries whatever the plan's size (吕梁's 234 tasks hold about a
thousand parts): the plan's figures are aggregates, a page reads only its own tasks' parts, and the
export reads the plan's tasks, units and parts once each. Scope is the engine's: a plan is read by
the committee offices of its region and above (as its review page), a part by its unit, the issuing
office and the offices and auditors above (`services.tasks.engine.scope_clause`).

Filters come in as query parameters and are checked here: a bad value is an `Invalid` with a
Chinese message per field, never an error of the database.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, exists, func, not_, select
from sqlalchemy.orm import Session

from db.models import Organisation, PlanTask, TaskAssignment, TaskPlan
from services.kernel import regions
from services.kernel.clock import local_date
from services.kernel.errors import Forbidden, Invalid, NotFound
from services.kernel.inputs import MAX_ID, ascii_id
from services.lifecycle.roles import Role
from services.lifecycle.table import check_pre
from services.tasklists.models import YEAR_LONG
from services.tasks import engine, reads
from services.tasks.lifecycle import TASK_LIFECYCLE
from services.tasks.models import TaskPartOut
from services.tasks.states import TASK_CLOSED_LABEL, TASK_OPEN_LABEL, TASK_STATE_LABELS, TaskState

A = TaskAssignment.__table__
PER_PAGE = 50
PART_STATES = {s.value: TASK_STATE_LABELS[s] for s in TaskState}
TASK_STATES = {"open": TASK_OPEN_LABEL, "closed": TASK_CLOSED_LABEL}
_YES_NO = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}
_MAX_PARAM = 40
# Who reads parts besides their own unit: the issuing office and the offices and auditors above it.
LIST_ROLES = frozenset({Role.INSPECTOR, Role.SUPERVISOR, Role.COMMITTEE, Role.AUDITOR})
ROLE_ORDER = case((A.c.role == "牵头", 0), (A.c.role == "负责", 1), else_=2)


# --- filters --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartFilter:
    """The filters of the plan's page and export (unit, part state, task state, overdue) and of
    我的任务 (part state, overdue, plan); `page` is 1-based."""

    org_id: int | None = None
    state: str | None = None
    task_state: str | None = None
    overdue: bool | None = None
    plan_id: int | None = None
    page: int = 1

    def params(self, **over: Any) -> dict[str, str]:
        """Query parameters that rebuild this filter (links for pages and the export), no blanks."""
        f = replace(self, **over)
        out: dict[str, str] = {}
        if f.org_id is not None:
            out["org"] = str(f.org_id)
        if f.state:
            out["state"] = f.state
        if f.task_state:
            out["task"] = f.task_state
        if f.overdue is not None:
            out["overdue"] = "yes" if f.overdue else "no"
        if f.plan_id is not None:
            out["plan"] = str(f.plan_id)
        if f.page != 1:
            out["page"] = str(f.page)
        return out

    @property
    def narrows_parts(self) -> bool:
        return self.org_id is not None or self.state is not None or self.overdue is not None


def _get(params: Mapping[str, Any], key: str) -> str:
    value = params.get(key)
    return value.strip() if isinstance(value, str) else ""


def parse_filter(params: Mapping[str, Any], *, keys: frozenset[str]) -> PartFilter:
    """The filter the query string asks for, of the parameters in `keys` (org, state, task,
    overdue, plan, page); every problem at once, per field, in Chinese."""
    errors: list[dict[str, str]] = []

    def text(key: str) -> str:
        value = _get(params, key) if key in keys else ""
        if len(value) > _MAX_PARAM:
            errors.append({"field": key, "message": "参数过长"})
            return ""
        return value

    def ident(key: str, message: str) -> int | None:
        raw = text(key)
        if not raw:
            return None
        found = ascii_id(raw)
        if found is None:
            errors.append({"field": key, "message": message})
        return found

    org_id = ident("org", "责任单位应从列表中选择")
    plan_id = ident("plan", "计划应从列表中选择")
    state = text("state") or None
    if state is not None and state not in PART_STATES:
        errors.append({"field": "state", "message": "办理状态应为：" + "、".join(PART_STATES.values())})
    task_state = text("task") or None
    if task_state is not None and task_state not in TASK_STATES:
        errors.append({"field": "task", "message": "任务状态应为 open（办理中）或 closed（已销号）"})
    raw_overdue = text("overdue")
    overdue = _YES_NO.get(raw_overdue.lower()) if raw_overdue else None
    if raw_overdue and overdue is None:
        errors.append({"field": "overdue", "message": "是否逾期应为 yes（逾期）或 no（未逾期）"})
    raw_page = text("page")
    page = ascii_id(raw_page) if raw_page else 1
    if page is None or page > 100_000:
        errors.append({"field": "page", "message": "页码应为正整数"})
        page = 1
    if errors:
        raise Invalid("筛选条件有误，请按提示修改。", details=errors)
    return PartFilter(org_id=org_id, state=state, task_state=task_state, overdue=overdue, plan_id=plan_id, page=page)


def part_clauses(flt: PartFilter, today: date) -> list[Any]:
    clauses: list[Any] = []
    if flt.org_id is not None:
        clauses.append(A.c.org_id == flt.org_id)
    if flt.state is not None:
        clauses.append(A.c.state == flt.state)
    if flt.overdue is True:
        clauses.append(engine.overdue_clause(today))
    elif flt.overdue is False:
        clauses.append(not_(engine.overdue_clause(today)))
    return clauses


def on_time(part: Any) -> bool:
    """Verified, and its completion was reported on or before its deadline (its Shanghai date)."""
    return (part.state == TaskState.VERIFIED and part.completion_reported_at is not None
            and local_date(part.completion_reported_at) <= part.deadline)


# --- the published plan ---------------------------------------------------------------------------


def readable_plan(session: Session, principal: Any, plan_id: int) -> TaskPlan:
    """A plan for its region's committee office and the offices above (the review page's rule)."""
    if principal.role != Role.COMMITTEE:
        raise Forbidden("任务清单由安委办查看")
    plan = (session.scalars(select(TaskPlan).where(TaskPlan.id == plan_id)).one_or_none()
            if 0 < plan_id <= MAX_ID else None)
    if plan is None or not regions.within(plan.region_code, principal.region_code):
        raise NotFound(f"计划 #{plan_id} 不存在")
    return plan


@dataclass
class Header:
    tasks: int
    closed: int
    parts: int
    reported: int
    overdue: int
    verified: int
    due: int  # parts verified or past their deadline: what "on time" is measured against
    on_time: int

    @property
    def on_time_pct(self) -> float | None:
        return round(100 * self.on_time / self.due, 1) if self.due else None


def header(session: Session, plan_id: int, today: date) -> Header:
    """The plan's figures: three queries whatever its size. The third reads the verified parts'
    report moments: "on time" compares a moment's Shanghai date with a date, which SQL cannot
    say the same way on SQLite and PostgreSQL."""
    tasks, closed = session.execute(
        select(func.count(), func.coalesce(func.sum(case((PlanTask.state == "closed", 1), else_=0)), 0))
        .where(PlanTask.plan_id == plan_id)).one()
    verified_now = A.c.state == TaskState.VERIFIED.value
    parts, reported, overdue, verified, due = session.execute(
        select(func.count(),
               *(func.coalesce(func.sum(case((c, 1), else_=0)), 0) for c in (
                   A.c.state == TaskState.REPORTED.value, engine.overdue_clause(today), verified_now,
                   verified_now | (A.c.deadline < today))))
        .select_from(A).where(A.c.plan_id == plan_id)).one()
    punctual = sum(1 for row in session.execute(
        select(A.c.state, A.c.deadline, A.c.completion_reported_at).where(A.c.plan_id == plan_id, verified_now))
        if on_time(row))
    return Header(int(tasks), int(closed), int(parts), int(reported), int(overdue), int(verified), int(due), punctual)


@dataclass
class PartRow:
    part: TaskAssignment
    label: str
    overdue: bool


@dataclass
class TaskRow:
    task: PlanTask
    state_label: str
    year_long: bool
    parts: list[PartRow] = field(default_factory=list)


@dataclass
class PlanView:
    plan: TaskPlan
    issuer: str
    header: Header
    units: list[tuple[int, str]]  # the plan's responsible bodies, for the unit filter
    rows: list[TaskRow]
    total: int  # tasks matching the filter
    page: int
    pages: int
    today: date


def _year_long(task: PlanTask) -> bool:
    try:
        return YEAR_LONG in json.loads(task.flags or "[]")
    except ValueError:
        return False


def matching_tasks(plan_id: int, flt: PartFilter, today: date):
    query = select(PlanTask.id).where(PlanTask.plan_id == plan_id)
    if flt.task_state is not None:
        query = query.where(PlanTask.state == flt.task_state)
    clauses = part_clauses(flt, today)
    if clauses:
        query = query.where(exists(select(A.c.id).where(A.c.task_id == PlanTask.id, *clauses)))
    return query


def _parts_of(session: Session, task_ids: list[int], flt: PartFilter, today: date) -> dict[int, list[PartRow]]:
    out: dict[int, list[PartRow]] = {i: [] for i in task_ids}
    if task_ids:
        query = (select(TaskAssignment).where(TaskAssignment.task_id.in_(task_ids), *part_clauses(flt, today))
                 .order_by(TaskAssignment.task_id, ROLE_ORDER, TaskAssignment.id))
        for part in session.scalars(query):
            out[part.task_id].append(PartRow(part, TASK_STATE_LABELS[TaskState(part.state)], reads.is_overdue(part, today)))
    return out


def units_of(session: Session, plan_id: int) -> list[tuple[int, str]]:
    """The bodies given parts of the plan, by name (the unit filter's choices)."""
    rows = session.execute(select(A.c.org_id, func.min(A.c.unit_name)).where(A.c.plan_id == plan_id)
                           .group_by(A.c.org_id)).all()
    return sorted(((int(org_id), name) for org_id, name in rows), key=lambda r: (r[1], r[0]))


def plan_view(session: Session, principal: Any, plan_id: int, flt: PartFilter | None, *, now: datetime,
              per_page: int = PER_PAGE) -> PlanView | None:
    """The published plan's page (None for a draft: its review page is another). `flt` None: the
    filter was refused, so the figures are shown without rows."""
    plan = readable_plan(session, principal, plan_id)
    if plan.state != "published":
        return None
    today = local_date(now)
    issuer = session.scalar(select(Organisation.name).where(Organisation.id == plan.issuer_org_id)) or ""
    figures = header(session, plan.id, today)
    units = units_of(session, plan.id)
    if flt is None:
        return PlanView(plan, issuer, figures, units, [], 0, 1, 1, today)
    matching = matching_tasks(plan.id, flt, today)
    total = session.scalar(select(func.count()).select_from(matching.subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(flt.page, pages)
    task_ids = list(session.scalars(matching.order_by(PlanTask.seq).offset((page - 1) * per_page).limit(per_page)))
    tasks = {t.id: t for t in session.scalars(select(PlanTask).where(PlanTask.id.in_(task_ids)))} if task_ids else {}
    parts = _parts_of(session, task_ids, flt, today)
    rows = [TaskRow(tasks[i], TASK_CLOSED_LABEL if tasks[i].state == "closed" else TASK_OPEN_LABEL,
                    _year_long(tasks[i]), parts[i]) for i in task_ids]
    return PlanView(plan, issuer, figures, units, rows, total, page, pages, today)


# --- 我的任务 and one part (the lists and the part themselves are services.tasks.reads) -------------


def may_list(principal: Any) -> bool:
    return principal.role in LIST_ROLES


def plans_in_scope(session: Session, principal: Any) -> list[tuple[int, str]]:
    """The plans with parts the caller may see, newest first (the plan filter of 我的任务)."""
    if not may_list(principal):
        raise Forbidden("任务由承担单位和安委办办理")
    return [(int(i), t) for i, t in session.execute(
        select(TaskPlan.id, TaskPlan.title)
        .where(TaskPlan.id.in_(select(A.c.plan_id).where(engine.scope_clause(principal))))
        .order_by(TaskPlan.year.desc(), TaskPlan.id.desc()))]


@dataclass(frozen=True)
class Explanation:
    action: str
    label: str
    message: str


def explanations(part: TaskAssignment, principal: Any) -> list[Explanation]:
    """Actions the person's role could take in this state that a four-eyes rule forbids, said in
    plain words where the form would be, so nobody wonders why it is missing."""
    out = []
    for name, spec in TASK_LIFECYCLE.items():
        if not spec.lifecycle or principal.role not in spec.roles or part.state not in spec.sources:
            continue
        refusal = check_pre(spec, part, principal, TASK_STATE_LABELS, "任务")
        if refusal is not None and refusal.code.startswith("four_eyes"):
            out.append(Explanation(name, spec.label, refusal.message))
    return out


@dataclass
class PartPage:
    view: TaskPartOut
    explanations: list[Explanation]
    plan_readable: bool  # the caller may open the plan's page


def part_page(session: Session, principal: Any, assignment_id: int, *, now: datetime) -> PartPage:
    """One part as the caller sees it (`reads.view_loaded`: task, trail, files, allowed actions),
    with the four-eyes explanations; 404 out of scope."""
    part = engine.load(session, principal, assignment_id)
    view = reads.view_loaded(session, part, principal, now=now)
    region = session.scalar(select(TaskPlan.region_code).where(TaskPlan.id == part.plan_id)) or ""
    readable = principal.role == Role.COMMITTEE and regions.within(region, principal.region_code)
    return PartPage(view, explanations(part, principal), readable)
