"""A task list's official documents (issue 14, item 4), issued by the document engine
(`services.documents.engine`) in its transaction, one per outbox row:

- `document.task_assignment_notice` (one per plan, written at publication): the 任务交办通知 of the
  plan's 安委办, naming the plan, how many tasks went to which unit (牵头/负责, 配合), and that
  progress is reported in the system. Its issuing is an `issue_document` event on the plan's record
  chain `plan:<id>`, naming the number and the SHA-256.
- `document.task_urge_letter` (a part's `urge` step): the 督办函 of the same office to the unit
  about its overdue task: number, title, the deadline as it stood at the step, the days overdue,
  and what to report by when (`REPLY_WORKING_DAYS` working days). Its issuing is the part's
  `issue_document` action (`services.tasks.engine.perform` as SYSTEM), on the part's chain.

Numbers are the engine's: `<代字><字>〔年〕n号`, gapless per 代字, word and year (`services.documents.
issuers`). The document's facts are the act's: the notice is dated by its publication, the letter
by its step, and the letter's deadline is the one the part's chain held at that step, so a letter
issued late states the decision as taken. `documents.outbox_id` is unique: a retried run issues
nothing twice.

Reading: `list_for_plan`, `list_for_assignment` and `get_document` under the parts' scope (the
unit reads its parts' letters and its plan's notice; the plan's office and those above read all).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Document, Organisation, PlanTask, RecordEvent, TaskAssignment, TaskPlan
from services.accounts.auth import SYSTEM
from services.audit import records
from services.calendar.workdays import default_calendar
from services.documents import issuers
from services.documents.issuers import COMMITTEE, Issuer
from services.documents.kinds import TASK_KINDS, Kind
from services.documents.render import render_html
from services.kernel.clock import local_date
from services.kernel.errors import NotFound
from services.kernel.inputs import MAX_ID
from services.tasks import engine as tasks

NOTICE, URGE = "task_assignment_notice", "task_urge_letter"
REPLY_WORKING_DAYS = 5
NOT_FOUND = "文书不存在或不在您的办理范围内"


def plan_chain(plan_id: int) -> str:
    """The plan's record chain (services.tasklists.drafts writes its import, corrections, publication)."""
    return f"plan:{plan_id}"


def office_of(session: Session, region_code: str) -> Issuer:
    """The 安委办 of the plan's region, at the region's own level (a township's plan: its county's)."""
    return issuers.issuer(session, COMMITTEE, region_code, issuers.official_level(region_code))


def _numbered(session: Session, who: Issuer, kind: Kind, dated: date, now: datetime) -> tuple[str, int]:
    code = issuers.code_of(session, who, now=now)
    seq = issuers.next_seq(session, code + kind.word, dated.year)
    return issuers.number(code, kind.word, dated.year, seq), seq


def _store(session: Session, row: Any, kind: Kind, who: Issuer, title: str, dated: date, number: str, seq: int,
           html: str, now: datetime, *, plan_id: int, assignment_id: int | None) -> Document:
    doc = Document(hazard_id=None, plan_id=plan_id, assignment_id=assignment_id, outbox_id=row.id, event_id=None,
                   kind=kind.name, title=title[:100], number=number, issuer=who.key, issuer_name=who.name,
                   year=dated.year, seq=seq, html=html, sha256=hashlib.sha256(html.encode("utf-8")).hexdigest(),
                   issued_at=now)
    session.add(doc)
    session.flush()
    return doc


def _payload(row: Any) -> dict[str, Any]:
    payload = json.loads(row.payload) if row.payload else {}
    if not isinstance(payload, dict):
        raise ValueError(f"outbox row {row.id}: payload is not an object")
    return payload


def _event(session: Session, payload: dict[str, Any]) -> RecordEvent | None:
    event_id = payload.get("record_event_id")
    return session.get(RecordEvent, int(event_id)) if event_id else None


def unit_table(session: Session, plan_id: int) -> list[dict[str, Any]]:
    """Per unit (in the order first given a part): its name, tasks, and of those led (牵头/负责)
    and co-operated (配合)."""
    rows = session.execute(
        select(TaskAssignment.org_id, Organisation.name, TaskAssignment.role, func.count(), func.min(TaskAssignment.id))
        .join(Organisation, Organisation.id == TaskAssignment.org_id)
        .where(TaskAssignment.plan_id == plan_id)
        .group_by(TaskAssignment.org_id, Organisation.name, TaskAssignment.role)).all()
    units: dict[int, dict[str, Any]] = {}
    for org_id, name, role, count, first in rows:
        u = units.setdefault(org_id, {"name": name, "tasks": 0, "lead": 0, "co": 0, "first": first})
        u["tasks"] += count
        u["co" if role == "配合" else "lead"] += count
        u["first"] = min(u["first"], first)
    return [{k: v for k, v in u.items() if k != "first"} for u in sorted(units.values(), key=lambda u: u["first"])]


def _notice(session: Session, row: Any, kind: Kind, payload: dict[str, Any], now: datetime) -> Document:
    plan = session.execute(select(TaskPlan).where(TaskPlan.id == int(payload["plan_id"])).with_for_update()
                           ).scalar_one()
    event = _event(session, payload)
    dated = local_date(event.occurred_at if event is not None else (plan.published_at or now))
    who = office_of(session, plan.region_code)
    number, seq = _numbered(session, who, kind, dated, now)
    tasks_count = session.scalar(select(func.count()).select_from(PlanTask).where(PlanTask.plan_id == plan.id))
    units = unit_table(session, plan.id)
    ctx = {"doc": {"title": kind.label, "number": number, "issuer": who.name, "dated": dated,
                   "addressee": "各有关单位"},
           "plan": {"id": plan.id, "title": plan.title, "year": plan.year}, "tasks": tasks_count,
           "parts": sum(u["tasks"] for u in units), "units": units}
    html = render_html(kind.template, ctx)
    doc = _store(session, row, kind, who, kind.label, dated, number, seq, html, now, plan_id=plan.id,
                 assignment_id=None)
    records.append(session, subject=plan_chain(plan.id), action="issue_document", actor=SYSTEM, now=now, payload={
        "kind": kind.name, "number": number, "title": doc.title, "sha256": doc.sha256, "document_id": doc.id,
        "outbox_id": row.id, "record_event_id": event.id if event is not None else None})
    return doc


def deadline_at(session: Session, assignment_id: int, seq: int) -> date | None:
    """The part's deadline as its chain held it after event `seq`: the assigned one, moved by any
    granted extension before it."""
    deadline: Any = None
    for (payload,) in session.execute(
            select(RecordEvent.payload).where(RecordEvent.subject == tasks.chain(assignment_id),
                                              RecordEvent.seq <= seq).order_by(RecordEvent.seq)):
        data = json.loads(payload)
        if data.get("changes", {}).get("deadline"):
            deadline = data["changes"]["deadline"]
        elif deadline is None and (data.get("body") or {}).get("deadline"):
            deadline = data["body"]["deadline"]
    return date.fromisoformat(deadline) if isinstance(deadline, str) else deadline


def _urge(session: Session, row: Any, kind: Kind, payload: dict[str, Any], now: datetime) -> Document:
    part = tasks.load(session, SYSTEM, int(payload["assignment_id"]), lock=True)
    event = _event(session, payload)
    body = json.loads(event.payload).get("body", {}) if event is not None else {}
    as_of_text = body.get("as_of") or payload.get("as_of")
    dated = local_date(event.occurred_at) if event is not None else local_date(now)
    as_of = date.fromisoformat(as_of_text) if as_of_text else dated
    deadline = (deadline_at(session, part.id, event.seq) if event is not None else None) or part.deadline
    plan = session.get(TaskPlan, part.plan_id)
    task = session.get(PlanTask, part.task_id)
    org = session.get(Organisation, part.org_id)
    who = office_of(session, plan.region_code)
    number, seq = _numbered(session, who, kind, dated, now)
    ctx = {"doc": {"title": kind.label, "number": number, "issuer": who.name, "dated": dated,
                   "addressee": org.name if org is not None else part.unit_name},
           "plan": {"id": plan.id, "title": plan.title, "year": plan.year},
           "task": {"number": task.number, "title": task.title, "text": task.text, "section": task.section,
                    "role": part.role, "unit_name": part.unit_name},
           "assignment_id": part.id, "deadline": deadline, "as_of": as_of,
           "days_overdue": max(0, (as_of - deadline).days) if deadline else 0,
           "reply_by": default_calendar().add_working_days(dated, REPLY_WORKING_DAYS),
           "reply_days": REPLY_WORKING_DAYS}
    html = render_html(kind.template, ctx)
    doc = _store(session, row, kind, who, kind.label, dated, number, seq, html, now, plan_id=plan.id,
                 assignment_id=part.id)
    tasks.perform(session, SYSTEM, part.id, "issue_document",
                  {"kind": kind.name, "number": number, "title": doc.title, "sha256": doc.sha256,
                   "document_id": doc.id}, now=now)
    return doc


_ISSUERS = {NOTICE: _notice, URGE: _urge}


def issue(session: Session, row: Any, kind: Kind, now: datetime) -> Document:
    """Issue the document of one claimed outbox row (id, kind, payload) in the engine's transaction."""
    return _ISSUERS[kind.name](session, row, kind, _payload(row), now)


# ---- reading ---------------------------------------------------------------------------------


class TaskDocumentOut(BaseModel):  # an issued task document's facts; its HTML comes from `get_document`
    id: int
    plan_id: int
    assignment_id: int | None
    kind: str
    kind_label: str
    number: str
    title: str
    issuer_name: str
    sha256: str
    issued_at: str


_COLUMNS = (Document.id, Document.plan_id, Document.assignment_id, Document.kind, Document.number, Document.title,
            Document.issuer_name, Document.sha256, Document.issued_at)


def _out(r: Any) -> TaskDocumentOut:
    return TaskDocumentOut(id=r.id, plan_id=r.plan_id, assignment_id=r.assignment_id, kind=r.kind,
                           kind_label=TASK_KINDS[r.kind].label, number=r.number, title=r.title,
                           issuer_name=r.issuer_name, sha256=r.sha256, issued_at=r.issued_at.isoformat())


def _sees_plan(session: Session, principal: Any, plan_id: int) -> bool:
    """Someone who sees any part of the plan: its office (and above) or one of its units."""
    return session.execute(select(TaskAssignment.id).where(TaskAssignment.plan_id == plan_id,
                                                           tasks.scope_clause(principal)).limit(1)).first() is not None


def _rows(session: Session, where: Iterable[Any]) -> list[TaskDocumentOut]:
    return [_out(r) for r in session.execute(select(*_COLUMNS).where(Document.hazard_id.is_(None), *where)
                                             .order_by(Document.id))]


def list_for_plan(session: Session, principal: Any, plan_id: int) -> list[TaskDocumentOut]:
    """The plan's notice and every letter of its parts the caller may see (NotFound when it sees none)."""
    if not (0 < plan_id <= MAX_ID) or not _sees_plan(session, principal, plan_id):
        raise NotFound("任务清单不存在或不在您的办理范围内")
    visible = select(TaskAssignment.id).where(TaskAssignment.plan_id == plan_id, tasks.scope_clause(principal))
    return _rows(session, [Document.plan_id == plan_id,
                           Document.assignment_id.is_(None) | Document.assignment_id.in_(visible)])


def list_for_assignment(session: Session, principal: Any, assignment_id: int) -> list[TaskDocumentOut]:
    tasks.load(session, principal, assignment_id)  # NotFound when out of scope
    return _rows(session, [Document.assignment_id == assignment_id])


def get_document(session: Session, principal: Any, document_id: int) -> tuple[TaskDocumentOut, str]:
    """One task document and its HTML as stored. A part's letter: whoever sees the part; the plan's
    notice: whoever sees any of its parts. Anything else answers 404, like an unknown id."""
    row = (session.execute(select(*_COLUMNS, Document.html).where(Document.id == document_id,
                                                                  Document.hazard_id.is_(None))).first()
           if 0 < document_id <= MAX_ID else None)
    if row is None or row.kind not in TASK_KINDS:
        raise NotFound(NOT_FOUND)
    try:
        if row.assignment_id is not None:
            tasks.load(session, principal, row.assignment_id)
        elif not _sees_plan(session, principal, row.plan_id):
            raise NotFound(NOT_FOUND)
    except NotFound:
        raise NotFound(NOT_FOUND) from None
    return _out(row), row.html
