"""Tasks on the hazards' engine (issue 14, item 4): the `Subject` that puts one unit's part of a
published task (`task_assignments`) on the transaction path of `services.engine.transitions`.

What differs from a hazard is only where things are written: the part's events go to the record
chain `assignment:<id>` (`record_events`, the office records' hash chain, append-only on
PostgreSQL and walked by `hazard audit verify`), with the part's `version` and `audit_head` kept
on its row by the same compare-and-set as a hazard's; its outbox rows name the part in their
payload (and the record event) instead of a hazard. Scope: a unit sees its own parts; the
issuing office and the offices above it (安委办, auditors) see the plan's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, false, func, insert, or_, select, update
from sqlalchemy.orm import Session

from db.models import Attachment, OutboxMessage, PlanTask, TaskAssignment
from services.accounts.auth import Principal
from services.audit import records
from services.engine.transitions import Decision, Subject, act
from services.kernel.errors import NotFound, invalid_field
from services.kernel.inputs import MAX_ID
from services.lifecycle.roles import Role
from services.lifecycle.table import ActionSpec
from services.tasks.lifecycle import TASK_LIFECYCLE
from services.tasks.states import TASK_STATE_LABELS, TaskState

A = TaskAssignment.__table__
_LOAD = select(TaskAssignment).where(TaskAssignment.id == bindparam("id")).execution_options(populate_existing=True)
_LOAD_FOR_UPDATE = _LOAD.with_for_update()
_OUTBOX_INSERT = insert(OutboxMessage.__table__)
READERS = (Role.COMMITTEE, Role.AUDITOR)  # besides the unit itself: the issuing office and those above


def chain(assignment_id: int) -> str:
    """The record chain of one unit's part."""
    return f"assignment:{assignment_id}"


def task_chain(task_id: int) -> str:
    """The record chain of a task as a whole (its closing)."""
    return f"task:{task_id}"


def in_scope(principal: Any, part: Any) -> bool:
    if principal.role == Role.SYSTEM:
        return True
    if principal.organisation_id is not None and principal.organisation_id == part.org_id:
        return True
    return principal.role in READERS and part.issuer_region_code.startswith(principal.region_prefix)


def scope_clause(principal: Any) -> ColumnElement[bool]:
    """`in_scope` as a WHERE clause on `task_assignments`."""
    if principal.role == Role.SYSTEM:
        return A.c.id.is_not(None)
    own = A.c.org_id == principal.organisation_id if principal.organisation_id is not None else false()
    if principal.role in READERS:
        return or_(own, A.c.issuer_region_code.startswith(principal.region_prefix, autoescape=True))
    return own


def load(session: Session, actor: Principal, assignment_id: int, lock: bool = False) -> TaskAssignment:
    statement = _LOAD_FOR_UPDATE if lock else _LOAD
    part = (session.execute(statement, {"id": assignment_id}).scalar_one_or_none()
            if 0 < assignment_id <= MAX_ID else None)
    if part is None or not in_scope(actor, part):
        raise NotFound("任务不存在或不在您的办理范围内")
    return part


def _details(session: Session, spec: ActionSpec, part: Any, actor: Principal, body: Any,
             changes: dict[str, Any]) -> dict[str, Any]:
    """The files an action names must be the part's own uploads."""
    ids = list(getattr(body, "evidence", []) or [])
    if not ids:
        return {}
    rows = session.execute(
        select(Attachment.id, Attachment.sha256, Attachment.filename)
        .where(Attachment.id.in_([i for i in ids if 0 < i <= MAX_ID]), Attachment.assignment_id == part.id)
    ).all()
    found = {r.id: r for r in rows}
    missing = [i for i in ids if i not in found]
    if missing:
        raise invalid_field("evidence", f"附件不存在或不属于该任务：{', '.join(map(str, missing))}")
    return {"attachments": [{"id": i, "sha256": found[i].sha256, "filename": found[i].filename} for i in ids]}


def _event(part: Any, seq: int, spec: ActionSpec, actor: Principal, target: str, payload: dict[str, Any],
           now: datetime) -> dict[str, Any]:
    return records.build_event(
        subject=chain(part.id), seq=seq, prev_hash=part.audit_head, action=spec.action, actor=actor,
        payload={**payload, "from_state": part.state, "to_state": str(target)}, now=now)


def _outbox_rows(part: Any, spec: ActionSpec, seq: int, now: datetime, extra: dict[str, Any] | None,
                 body: Any) -> list[dict[str, Any]]:
    payload = {"assignment_id": part.id, "task_id": part.task_id, "plan_id": part.plan_id, "org_id": part.org_id,
               "action": spec.action, "seq": seq, **(extra or {})}
    return [{"hazard_id": None, "kind": kind, "payload": payload, "dedupe_key": f"{kind}:assignment:{part.id}:{seq}",
             "status": "pending", "attempts": 0, "available_at": now, "created_at": now}
            for kind in spec.effects_for(body)]


def _insert_outbox(session: Session, rows: list[dict[str, Any]], event_id: int) -> None:
    if rows:
        session.connection().execute(_OUTBOX_INSERT, [
            {**row, "event_id": None, "payload": records.canonical({**row["payload"], "record_event_id": event_id})}
            for row in rows])


@dataclass(frozen=True)
class _Actor:
    id: int | None
    role: str
    display_name: str


def close_if_done(session: Session, task_id: int, now: datetime, actor: Any, by_event: int | None = None) -> bool:
    """Close the task (销号) when every unit's part is verified; True when this call closed it. The
    task's row is locked first, so two parts verified at once cannot both miss the other's."""
    task = session.execute(select(PlanTask).where(PlanTask.id == task_id).with_for_update()).scalar_one()
    if task.state != "open":
        return False
    left = session.scalar(select(func.count()).select_from(A).where(
        A.c.task_id == task_id, A.c.state != TaskState.VERIFIED.value))
    if left:
        return False
    parts = session.scalar(select(func.count()).select_from(A).where(A.c.task_id == task_id))
    session.execute(update(PlanTask).where(PlanTask.id == task_id, PlanTask.state == "open")
                    .values(state="closed", closed_at=now))
    records.append(session, subject=task_chain(task_id), action="close", actor=actor, now=now,
                   payload={"parts": parts, "by_event": by_event})
    return True


def _after(session: Session, part: Any, decision: Decision, event_id: int, now: datetime) -> None:
    if decision.action == "verify":
        e = decision.event
        close_if_done(session, part.task_id, now, _Actor(e["actor_id"], e["actor_role"], e["actor_name"]), event_id)


TASK = Subject(
    name="task", noun="任务", table=A, lifecycle=TASK_LIFECYCLE, labels=TASK_STATE_LABELS, load=load,
    details=_details, build_event=_event, insert_event=records.insert_event, outbox_rows=_outbox_rows,
    insert_outbox=_insert_outbox, after=_after,
)


def perform(session: Session, actor: Principal, assignment_id: int, action: str, data: Any, *, now: datetime,
            if_match: int | None = None) -> TaskAssignment:
    """Carry out one action on one unit's part of a task; returns the part as it is after it."""
    return act(TASK, session, actor, assignment_id, action, data, now=now, if_match=if_match)


def overdue_clause(today: Any) -> ColumnElement[bool]:
    """A part still owed (not reported, not verified) whose deadline has passed."""
    return and_(A.c.state.in_([s.value for s in (TaskState.ASSIGNED, TaskState.ACKNOWLEDGED,
                                                  TaskState.IN_PROGRESS)]), A.c.deadline < today)
