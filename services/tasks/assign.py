"""A published plan gives every responsible unit its part of each task (issue 14, item 3).

One part per (task, organisation): a single body is one part, a group (各县（市、区）政府, 安委会成员
单位 …) one part per member; a body named twice keeps its first role (牵头 before 配合). A task whose
units could not be resolved to any body (reviewed and published all the same) is given to the
issuing office itself, so no task is dropped from the chase. The deadline is the task's, else the
plan's year end; 全年/长期坚持 tasks are year-long (monthly progress). Each part's chain starts with
its `assign` event (record chain `assignment:<id>`); each unit is told once per plan, and the plan's
任务交办通知 is one document. All in the caller's (publishing) transaction, set-based.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from db.models import Organisation, OutboxMessage, PlanTask, PlanTaskUnit, RecordEvent, TaskAssignment, TaskPlan
from services.audit import records
from services.outbox import kinds
from services.tasklists.models import LEAD, YEAR_LONG
from services.tasks.engine import chain
from services.tasks.states import TaskState

A = TaskAssignment.__table__
ROLE_ORDER = {LEAD: 0, "负责": 1, "配合": 2}
NOTICE = kinds.document("task_assignment_notice")


@dataclass
class Assigned:
    parts: int
    units: int
    to_office: int  # tasks without a resolved unit, given to the issuing office


def _org_ids(unit: PlanTaskUnit) -> list[int]:
    if unit.org_id is not None:
        return [unit.org_id]
    try:
        return [int(i) for i in json.loads(unit.org_ids or "[]")]
    except (TypeError, ValueError):
        return []


def assign(session: Session, plan: TaskPlan, actor: Any, *, now: datetime, publish_event_id: int | None = None) -> Assigned:
    session.flush()  # units added in this transaction (an import published at once) are read below
    tasks = list(session.scalars(select(PlanTask).where(PlanTask.plan_id == plan.id).order_by(PlanTask.seq)))
    units: dict[int, list[PlanTaskUnit]] = {}
    for u in session.scalars(select(PlanTaskUnit).join(PlanTask, PlanTask.id == PlanTaskUnit.task_id)
                             .where(PlanTask.plan_id == plan.id).order_by(PlanTaskUnit.task_id, PlanTaskUnit.seq)):
        units.setdefault(u.task_id, []).append(u)
    wanted: set[int] = {plan.issuer_org_id}
    for us in units.values():
        for u in us:
            wanted.update(_org_ids(u))
    orgs = {o.id: o for o in session.scalars(select(Organisation).where(Organisation.id.in_(wanted)))}
    issuer = orgs[plan.issuer_org_id]
    year_end = date(plan.year, 12, 31)
    rows: list[dict[str, Any]] = []
    to_office = 0
    for task in tasks:
        parts: dict[int, tuple[str, str]] = {}
        for u in sorted(units.get(task.id, []), key=lambda u: (ROLE_ORDER.get(u.role, 3), u.seq)):
            for org_id in _org_ids(u):
                if org_id in orgs and org_id not in parts:
                    parts[org_id] = (u.name if u.org_id is not None else orgs[org_id].name, u.role)
        if not parts:
            parts[issuer.id] = (issuer.name, "负责")
            to_office += 1
        year_long = YEAR_LONG in json.loads(task.flags or "[]")
        for org_id, (name, role) in parts.items():
            rows.append({
                "plan_id": plan.id, "task_id": task.id, "org_id": org_id, "unit_name": name[:100], "role": role[:8],
                "region_code": orgs[org_id].region_code, "issuer_org_id": issuer.id,
                "issuer_region_code": plan.region_code, "state": TaskState.ASSIGNED.value,
                "deadline": task.deadline or year_end, "year_long": year_long, "version": 1, "audit_head": "",
                "created_at": now, "updated_at": now,
                "_number": task.number, "_title": task.title,
            })
    if not rows:
        return Assigned(0, 0, 0)
    conn = session.connection()
    ids = conn.execute(insert(A).returning(A.c.id, sort_by_parameter_order=True),
                       [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]).scalars().all()
    events, heads = [], []
    for part_id, r in zip(ids, rows):
        subject = chain(part_id)
        body = {"plan_id": plan.id, "task_id": r["task_id"], "number": r["_number"], "title": r["_title"][:200],
                "unit_name": r["unit_name"], "role": r["role"], "deadline": r["deadline"].isoformat(),
                "year_long": r["year_long"]}
        event = records.build_event(subject=subject, seq=1, prev_hash=records.genesis_hash(subject), action="assign",
                                    actor=actor, now=now, payload={
                                        "body": body, "changes": {}, "from_state": None,
                                        "to_state": TaskState.ASSIGNED.value, "publish_event_id": publish_event_id})
        events.append(event)
        heads.append({"part_id": part_id, "head": event["hash"]})
    conn.execute(insert(RecordEvent.__table__), events)
    conn.execute(update(A).where(A.c.id == bindparam("part_id")).values(audit_head=bindparam("head")), heads)
    per_unit: dict[int, int] = {}
    for r in rows:
        per_unit[r["org_id"]] = per_unit.get(r["org_id"], 0) + 1
    outbox = [{"hazard_id": None, "event_id": None, "kind": NOTICE, "dedupe_key": f"{NOTICE}:plan:{plan.id}",
               "payload": records.canonical({"plan_id": plan.id, "action": "publish", "units": len(per_unit),
                                             "parts": len(rows), "record_event_id": publish_event_id}),
               "status": "pending", "attempts": 0, "available_at": now, "created_at": now}]
    for org_id, count in sorted(per_unit.items()):
        key = f"{kinds.NOTIFY_TASK_UNIT}:plan:{plan.id}:org:{org_id}"
        outbox.append({"hazard_id": None, "event_id": None, "kind": kinds.NOTIFY_TASK_UNIT, "dedupe_key": key,
                       "payload": records.canonical({"plan_id": plan.id, "org_id": org_id, "action": "assign",
                                                     "parts": count, "record_event_id": publish_event_id}),
                       "status": "pending", "attempts": 0, "available_at": now, "created_at": now})
    conn.execute(insert(OutboxMessage.__table__), outbox)
    return Assigned(len(rows), len(per_unit), to_office)
