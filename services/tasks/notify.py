"""Who hears of a task list's outbox rows, and what they read (issue 14, item 4): the task kinds'
side of `services.outbox.expand` (the hazards' audiences stay in `services.notify.recipients`).

- `notify.task_unit`: the active users of the unit whose part it is (`users.organisation_id ==
  task_assignments.org_id`); a publication row (no part, action `assign`) names the unit in its
  payload's `org_id` and tells it how many tasks it was given;
- `notify.task_office`: the 安委办 users of the issuing region (`role = committee` and
  `region_code == issuer_region_code`), who check the units' work.

Texts are templates under `templates/notifications/tasks/` (`<action>.txt`, blocks `subject` and
`body`; `_action.txt` for an action without its own), strict like the hazards'. Each names the plan,
the task's number and title, the unit, the act (an escalation by its step's label,
`TASK_STEP_LABELS`) and the link `/tasks/<assignment id>`. The body a delivery carries is the same
JSON as a hazard message's (`services.notify.messages.Message`), its item naming the part.

`prepare` answers a batch of rows with a few queries (parts, plans, units, acts, people), then per
row in memory; the expansion inserts the deliveries with the hazards' dedupe keys (outbox row,
channel, recipient), so a repeat inserts nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, TemplateNotFound
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from db.models import Organisation, PlanTask, RecordEvent, TaskAssignment, TaskPlan, User
from services.kernel.clock import cn_date, local_date
from services.lifecycle.roles import Role
from services.notify.messages import Message
from services.notify.recipients import Person
from services.outbox import kinds
from services.tasks.lifecycle import TASK_LIFECYCLE, TASK_STEP_LABELS
from services.tasks.states import TASK_STATE_LABELS

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "notifications" / "tasks"


class Audience(StrEnum):
    UNIT = "unit"  # the active users of the part's unit (a publication row: of the payload's org_id)
    OFFICE = "office"  # the 安委办 users of the region that issued the list


KIND_AUDIENCES: dict[str, tuple[Audience, ...]] = {
    kinds.NOTIFY_TASK_UNIT: (Audience.UNIT,),
    kinds.NOTIFY_TASK_OFFICE: (Audience.OFFICE,),
}
READERS = {kinds.NOTIFY_TASK_UNIT: "unit", kinds.NOTIFY_TASK_OFFICE: "office"}
_PERSON_COLUMNS = (User.id, User.role, User.region_code, User.industry, User.enterprise_id, User.email)


def link(assignment_id: int | None) -> str:
    """The page of a unit's part (the list of the unit's tasks for a publication)."""
    return f"/tasks/{assignment_id}" if assignment_id else "/tasks"


def _cn(value: date | str | None) -> str:
    if value is None or value == "":
        return "—"
    return cn_date(date.fromisoformat(value) if isinstance(value, str) else value)


_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=False, undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True)
_env.filters["cn_date"] = _cn


def _template(action: str) -> Template:
    try:
        return _env.get_template(f"{action}.txt")
    except TemplateNotFound:
        return _env.get_template("_action.txt")


def _block(template: Template, name: str, ctx: dict[str, Any]) -> str:
    text = "".join(template.blocks[name](template.new_context(ctx)))
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


@dataclass(frozen=True)
class TaskNotice:
    """One row's recipients (each once, by id) and its message."""

    people: list[Person]
    message: Message


@dataclass(frozen=True)
class _Part:
    id: int
    task_id: int
    plan_id: int
    org_id: int
    unit: str  # the organisation's name
    unit_name: str  # as written in the plan
    role: str
    state: str
    deadline: date
    issuer_region_code: str
    number: str
    title: str


@dataclass(frozen=True)
class _Plan:
    id: int
    title: str
    year: int
    region_code: str


@dataclass(frozen=True)
class _Act:
    seq: int
    occurred_at: Any
    actor_name: str
    body: dict[str, Any]
    changes: dict[str, Any]


def _in(column: Any, ids: set[Any]) -> Any:
    return column.in_(sorted(ids))


def _load(session: Session, payloads: list[dict[str, Any]]) -> tuple[dict[int, _Part], dict[int, _Plan],
                                                                      dict[int, str], dict[int, _Act]]:
    part_ids = {int(p["assignment_id"]) for p in payloads if p.get("assignment_id")}
    parts: dict[int, _Part] = {}
    if part_ids:
        A = TaskAssignment
        for r in session.execute(select(
                A.id, A.task_id, A.plan_id, A.org_id, Organisation.name, A.unit_name, A.role, A.state, A.deadline,
                A.issuer_region_code, PlanTask.number, PlanTask.title)
                .join(PlanTask, PlanTask.id == A.task_id).join(Organisation, Organisation.id == A.org_id)
                .where(_in(A.id, part_ids))):
            parts[r.id] = _Part(*r)
    plan_ids = {int(p["plan_id"]) for p in payloads if p.get("plan_id")} | {p.plan_id for p in parts.values()}
    plans = {r.id: _Plan(*r) for r in session.execute(
        select(TaskPlan.id, TaskPlan.title, TaskPlan.year, TaskPlan.region_code).where(_in(TaskPlan.id, plan_ids)))
    } if plan_ids else {}
    org_ids = {int(p["org_id"]) for p in payloads if p.get("org_id")}
    orgs = dict(session.execute(select(Organisation.id, Organisation.name).where(_in(Organisation.id, org_ids))
                                ).all()) if org_ids else {}
    event_ids = {int(p["record_event_id"]) for p in payloads if p.get("record_event_id")}
    acts: dict[int, _Act] = {}
    if event_ids:
        for r in session.execute(select(RecordEvent.id, RecordEvent.seq, RecordEvent.occurred_at,
                                        RecordEvent.actor_name, RecordEvent.payload)
                                 .where(_in(RecordEvent.id, event_ids))):
            data = json.loads(r.payload)
            acts[r.id] = _Act(r.seq, r.occurred_at, r.actor_name or "", data.get("body") or {},
                              data.get("changes") or {})
    return parts, plans, orgs, acts


def _people(session: Session, orgs: set[int], offices: set[str]) -> list[tuple[Person, int | None]]:
    wanted = []
    if orgs:
        wanted.append(_in(User.organisation_id, orgs))
    if offices:
        wanted.append(and_(User.role == Role.COMMITTEE, _in(User.region_code, offices)))
    if not wanted:
        return []
    rows = session.execute(select(*_PERSON_COLUMNS, User.organisation_id)
                           .where(User.active.is_(True), or_(*wanted)).order_by(User.id)).all()
    return [(Person(*r[:6]), r[6]) for r in rows]


def _label(payload: dict[str, Any]) -> str:
    step = payload.get("step")
    if step:
        return TASK_STEP_LABELS.get(step, step)
    spec = TASK_LIFECYCLE.get(payload.get("action", ""))
    return spec.label if spec else str(payload.get("action", ""))


def _event(payload: dict[str, Any], act: _Act | None) -> dict[str, Any]:
    event = {"action": payload.get("action"), "label": _label(payload), "seq": payload.get("seq"),
             "record_event_id": payload.get("record_event_id")}
    for name in ("step", "skipped", "month", "as_of"):
        if payload.get(name):
            event[name] = payload[name]
    if act is not None:
        event["occurred_at"] = act.occurred_at.isoformat()
    return event


def _message(kind: str, payload: dict[str, Any], part: _Part | None, plan: _Plan | None, unit: str,
             act: _Act | None) -> Message:
    action = str(payload.get("action", ""))
    changes = act.changes if act else {}
    deadline = changes.get("deadline") or (part.deadline if part else None)
    t = ({"id": part.id, "number": part.number, "title": part.title, "unit": part.unit, "unit_name": part.unit_name,
          "role": part.role, "deadline": deadline, "state": TASK_STATE_LABELS.get(part.state, part.state)}
         if part else None)
    e = {"action": action, "label": _label(payload), "step": payload.get("step"), "as_of": payload.get("as_of"),
         "month": payload.get("month"), "skipped": [TASK_STEP_LABELS.get(s, s) for s in payload.get("skipped") or ()],
         "actor": act.actor_name if act else "", "day": local_date(act.occurred_at) if act else None,
         "body": act.body if act else {}, "changes": changes}
    ctx = {"plan": {"title": plan.title if plan else "", "year": plan.year if plan else ""}, "t": t, "e": e,
           "unit": unit, "reader": READERS.get(kind, "unit"), "link": link(part.id if part else None),
           "parts": payload.get("parts") or 0}
    template = _template(action)
    text = _block(template, "body", ctx) + f"\n详见：{ctx['link']}"
    item: dict[str, Any] = {"plan_id": plan.id if plan else payload.get("plan_id"), "plan": ctx["plan"]["title"],
                            "unit": unit, "link": ctx["link"], "events": [_event(payload, act)]}
    if part is not None:
        item.update({"assignment_id": part.id, "task_id": part.task_id, "number": part.number, "title": part.title,
                     "deadline": deadline.isoformat() if isinstance(deadline, date) else deadline})
    return Message(kind, _block(template, "subject", ctx)[:300], text, [item],
                   occurred_at=act.occurred_at.isoformat() if act else None)


def audiences(kind: str) -> tuple[Audience, ...]:
    return KIND_AUDIENCES.get(kind, ())


def prepare(session: Session, rows: Iterable[tuple[int, str, dict[str, Any]]]) -> dict[int, TaskNotice]:
    """For each task row (outbox id, kind, payload): who is told and what. A row whose part or plan
    no longer exists is left out (the expansion marks it done all the same)."""
    rows = [r for r in rows if r[1] in KIND_AUDIENCES]
    if not rows:
        return {}
    parts, plans, orgs, acts = _load(session, [p for _, _, p in rows])
    unit_of: dict[int, int] = {}
    office_of: dict[int, str] = {}
    for row_id, _kind, payload in rows:
        part = parts.get(int(payload.get("assignment_id") or 0))
        plan = plans.get(part.plan_id if part else int(payload.get("plan_id") or 0))
        org = part.org_id if part else payload.get("org_id")
        if org is not None:
            unit_of[row_id] = int(org)
        region = part.issuer_region_code if part else plan.region_code if plan else None
        if region:
            office_of[row_id] = region
    people = _people(session, set(unit_of.values()), set(office_of.values()))
    out: dict[int, TaskNotice] = {}
    for row_id, kind, payload in rows:
        part = parts.get(int(payload.get("assignment_id") or 0))
        if payload.get("assignment_id") and part is None:
            continue
        plan = plans.get(part.plan_id if part else int(payload.get("plan_id") or 0))
        if plan is None:
            continue
        told: dict[int, Person] = {}
        for audience in KIND_AUDIENCES[kind]:
            if audience == Audience.UNIT:
                chosen = [p for p, org in people if row_id in unit_of and org == unit_of[row_id]]
            else:
                chosen = [p for p, _ in people if p.role == Role.COMMITTEE and p.region_code == office_of.get(row_id)]
            for p in chosen:
                told.setdefault(p.id, p)
        unit = part.unit if part else orgs.get(unit_of.get(row_id, 0), "")
        act = acts.get(int(payload.get("record_event_id") or 0))
        out[row_id] = TaskNotice(sorted(told.values(), key=lambda p: p.id),
                                 _message(kind, payload, part, plan, unit, act))
    return out
