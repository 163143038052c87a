"""Reading units' parts of published tasks (issue 14): a principal's parts in scope with filters
and keyset pagination, and one part in full (the task, the unit, progress, completion, check,
extension, escalation, the record chain's trail, its files and the caller's allowed actions).

Scope is the engine's (`services.tasks.engine.scope_clause` / `load`): a unit's user sees its own
organisation's parts, the issuing office and the offices above (安委办, auditors) the plan's. A
list is one query whatever its length; a part is five.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Attachment, PlanTask, TaskAssignment, TaskPlan, User
from services.accounts.auth import Principal
from services.audit import records
from services.kernel.clock import local_date
from services.kernel.errors import Invalid
from services.lifecycle.roles import ROLE_LABELS
from services.lifecycle.table import allowed_actions
from services.reads.hazards import decode_cursor, encode_cursor
from services.tasks import engine
from services.tasks.lifecycle import TASK_LIFECYCLE, TASK_STEP_LABELS
from services.tasks.models import (PersonRef, TaskAttachmentOut, TaskCompletion, TaskEventActor, TaskEventOut,
                                   TaskExtensionRequest, TaskPage, TaskPartOut, TaskPartSummary, TaskProgress,
                                   TaskRef, TaskVerification)
from services.tasks.states import (TASK_CLOSED_LABEL, TASK_OPEN_LABEL, TASK_STATE_LABELS, WORKING, TaskState)

A = TaskAssignment.__table__
STATES = tuple(s.value for s in TaskState)
ACTION_LABELS = {name: spec.label for name, spec in TASK_LIFECYCLE.items()}


def _d(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def is_overdue(part: Any, today: date) -> bool:
    """`services.tasks.engine.overdue_clause` for one part: still owed and past its deadline."""
    return part.state in WORKING and part.deadline < today


def offered(part: Any, principal: Principal) -> list[str]:
    """The actions the lifecycle lets this person offer on this part now (body rules on submit)."""
    return allowed_actions(part, principal, TASK_LIFECYCLE, TASK_STATE_LABELS)


def summary(part: TaskAssignment, principal: Principal, *, today: date, plan_title: str, number: str,
            section: str, title: str) -> TaskPartSummary:
    return TaskPartSummary(
        id=part.id, plan_id=part.plan_id, plan_title=plan_title, task_id=part.task_id, number=number,
        section=section, title=title, org_id=part.org_id, unit_name=part.unit_name, role=part.role,
        state=part.state, state_label=TASK_STATE_LABELS[TaskState(part.state)], deadline=part.deadline.isoformat(),
        year_long=part.year_long, overdue=is_overdue(part, today), version=part.version,
        progress_count=part.progress_count, last_progress_at=_d(part.last_progress_at),
        escalation_step=part.escalation_step, extension_pending=part.extension_requested_at is not None,
        allowed_actions=offered(part, principal),
    )


def _states(state: list[str] | None) -> list[str]:
    wanted = list(dict.fromkeys(state or ()))
    bad = [s for s in wanted if s not in STATES]
    if bad:
        raise Invalid("状态不正确", details=[{"field": "state", "message": "状态应为 " + "、".join(
            f"{s}（{TASK_STATE_LABELS[TaskState(s)]}）" for s in STATES)}])
    return wanted


def list_view(session: Session, principal: Principal, *, now: datetime, plan_id: int | None = None,
              org_id: int | None = None, task_id: int | None = None, state: list[str] | None = None,
              overdue: bool | None = None, cursor: str | None = None, limit: int = 50) -> TaskPage:
    """The parts in the caller's scope in plan order (a plan's parts are assigned in task order),
    keyset-paginated on the id: a page costs one query however deep it is."""
    today = local_date(now)
    conditions: list[Any] = [engine.scope_clause(principal)]
    if plan_id is not None:
        conditions.append(A.c.plan_id == plan_id)
    if org_id is not None:
        conditions.append(A.c.org_id == org_id)
    if task_id is not None:
        conditions.append(A.c.task_id == task_id)
    states = _states(state)
    if states:
        conditions.append(A.c.state.in_(states))
    if overdue is True:
        conditions.append(engine.overdue_clause(today))
    elif overdue is False:
        conditions.append(~engine.overdue_clause(today))
    if cursor:
        conditions.append(A.c.id > decode_cursor(cursor))
    rows = session.execute(
        select(TaskAssignment, TaskPlan.title, PlanTask.number, PlanTask.section, PlanTask.title)
        .join(PlanTask, PlanTask.id == TaskAssignment.task_id)
        .join(TaskPlan, TaskPlan.id == TaskAssignment.plan_id)
        .where(*conditions).order_by(TaskAssignment.id).limit(limit + 1)
    ).all()
    items = [summary(part, principal, today=today, plan_title=plan_title, number=number, section=section,
                     title=title) for part, plan_title, number, section, title in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1][0].id) if len(rows) > limit else None
    return TaskPage(items=items, next_cursor=next_cursor, limit=limit)


def _person(names: dict[int, str], user_id: int | None) -> PersonRef:
    return PersonRef(id=user_id, name=names.get(user_id) if user_id is not None else None)


def _event(e: Any) -> TaskEventOut:
    payload = json.loads(e.payload)
    body = payload.get("body") if isinstance(payload.get("body"), dict) else {}
    spec = TASK_LIFECYCLE.get(e.action)
    label = spec.label if spec is not None else e.action
    if e.action == "escalate" and body.get("step") in TASK_STEP_LABELS:
        label = f"{label}：{TASK_STEP_LABELS[body['step']]}"
    return TaskEventOut(
        seq=e.seq, action=e.action, label=label,
        actor=TaskEventActor(id=e.actor_id, role=e.actor_role, role_label=ROLE_LABELS.get(e.actor_role, e.actor_role),
                             name=e.actor_name),
        occurred_at=e.occurred_at.isoformat(), from_state=payload.get("from_state"),
        to_state=payload.get("to_state"), body=body, attachments=payload.get("attachments") or [], hash=e.hash,
    )


def trail(session: Session, assignment_id: int) -> list[TaskEventOut]:
    """The part's record chain, oldest first. Scope is the caller's to check first."""
    return [_event(e) for e in records.trail(session, engine.chain(assignment_id))]


def attachment_out(a: Attachment) -> TaskAttachmentOut:
    return TaskAttachmentOut(id=a.id, assignment_id=a.assignment_id, sha256=a.sha256, size=a.size,
                             content_type=a.content_type, filename=a.filename, created_at=a.created_at.isoformat(),
                             uploaded_by_id=a.uploaded_by_id)


def attachments(session: Session, assignment_id: int) -> list[TaskAttachmentOut]:
    """The part's files in upload order. Scope is the caller's to check first."""
    rows = session.scalars(select(Attachment).where(Attachment.assignment_id == assignment_id).order_by(Attachment.id))
    return [attachment_out(a) for a in rows]


def view_loaded(session: Session, part: TaskAssignment, principal: Principal, *, now: datetime) -> TaskPartOut:
    """The part as this caller sees it, for a part already loaded (in scope) in `session`."""
    today = local_date(now)
    task, plan_title, plan_year = session.execute(
        select(PlanTask, TaskPlan.title, TaskPlan.year).join(TaskPlan, TaskPlan.id == PlanTask.plan_id)
        .where(PlanTask.id == part.task_id)).one()
    people = {i for i in (part.completion_reported_by_id, part.verified_by_id, part.extension_requested_by_id)
              if i is not None}
    names: dict[int, str] = dict(session.execute(
        select(User.id, User.display_name).where(User.id.in_(people))).tuples().all()) if people else {}
    completion = None
    if part.completion_reported_at is not None:
        completion = TaskCompletion(summary=part.completion, reported_at=part.completion_reported_at.isoformat(),
                                    reported_by=_person(names, part.completion_reported_by_id))
    verification = None
    if part.verified_at is not None:
        verification = TaskVerification(verified_at=part.verified_at.isoformat(),
                                        verified_by=_person(names, part.verified_by_id))
    extension = None
    if part.extension_requested_at is not None:
        extension = TaskExtensionRequest(new_deadline=_d(part.extension_new_deadline), reason=part.extension_reason,
                                         requested_at=part.extension_requested_at.isoformat(),
                                         requested_by=_person(names, part.extension_requested_by_id))
    allowed = offered(part, principal)
    return TaskPartOut(
        id=part.id, version=part.version,
        task=TaskRef(id=task.id, plan_id=task.plan_id, plan_title=plan_title, plan_year=plan_year,
                     section=task.section, number=task.number, title=task.title, text=task.text,
                     deadline_text=task.deadline_text, state=task.state,
                     state_label=TASK_CLOSED_LABEL if task.state == "closed" else TASK_OPEN_LABEL,
                     closed_at=_d(task.closed_at)),
        org_id=part.org_id, unit_name=part.unit_name, role=part.role, region_code=part.region_code,
        issuer_org_id=part.issuer_org_id, issuer_region_code=part.issuer_region_code,
        state=part.state, state_label=TASK_STATE_LABELS[TaskState(part.state)], deadline=part.deadline.isoformat(),
        year_long=part.year_long, overdue=is_overdue(part, today), acknowledged_at=_d(part.acknowledged_at),
        progress=TaskProgress(count=part.progress_count, last_text=part.last_progress,
                              last_at=_d(part.last_progress_at)),
        completion=completion, verification=verification, returned_count=part.returned_count,
        pending_extension=extension, extensions_granted=part.extensions_granted,
        escalation_step=part.escalation_step,
        escalation_step_label=TASK_STEP_LABELS.get(part.escalation_step or ""),
        trail=trail(session, part.id), attachments=attachments(session, part.id),
        allowed_actions=allowed, action_labels={a: ACTION_LABELS[a] for a in allowed},
        created_at=part.created_at.isoformat(), updated_at=part.updated_at.isoformat(),
    )


def get_view(session: Session, principal: Principal, assignment_id: int, *, now: datetime) -> TaskPartOut:
    """One part in the caller's scope (404 otherwise, the same answer as for no such part)."""
    return view_loaded(session, engine.load(session, principal, assignment_id), principal, now=now)
