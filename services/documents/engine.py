"""The document engine: pending `document.*` outbox rows → numbered, rendered, stored documents,
each recorded in its hazard's audit trail.

One transaction per document: claim the row (FOR UPDATE SKIP LOCKED on PostgreSQL, so concurrent
runs take different rows; SQLite's BEGIN IMMEDIATE serialises them), lock the hazard row, take the
issuing body's next number, render, store the HTML and its SHA-256, record the `issue_document`
event through `services.engine.transitions` (the same path, chain and version rules as any action) and
mark the row done. All of it commits together or not at all: a failure leaves no number used, no
document and the row pending (retried later, with backoff); a run repeated after success finds the
row done, and `documents.outbox_id` is unique besides, so nothing is issued twice.

The hazard is locked before the number is taken, the order every issuer follows, so two documents
of one hazard are issued one after the other, and a person acting meanwhile waits for one short
transaction rather than both racing on the hazard's version.

A task list's documents (任务交办通知, a part's 督办函: `services.tasks.documents`) take the same
path and transaction; the plan or the part is locked instead of a hazard, and the issuing is
recorded on the plan's record chain or by the part's `issue_document` action.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.engine import UnitOfWork
from db.models import AuditEvent, Document, Enterprise, Hazard, OutboxMessage, User
from services.engine import transitions
from services.accounts.auth import SYSTEM
from services.documents import content, issuers
from services.documents.kinds import TASK_KINDS, kind_of
from services.documents.render import render_html
from services.outbox import batches as outbox_batches, kinds as outbox_kinds
from services.tasks import documents as task_documents

log = structlog.get_logger("hazard.documents")

O = OutboxMessage.__table__
MAX_BACKOFF = timedelta(hours=1)


@dataclass
class IssueReport:
    issued: int = 0
    failed: int = 0  # left pending, retried after a backoff
    numbers: list[str] = field(default_factory=list)


def _pending(now: datetime):
    return (O.c.status == "pending", O.c.kind.startswith(outbox_kinds.DOCUMENT, autoescape=True),
            O.c.available_at <= now)


def _claim(session: Session, now: datetime, ids: list[int] | None, tried: list[int]) -> Any:
    q = select(O.c.id, O.c.hazard_id, O.c.event_id, O.c.kind, O.c.attempts, O.c.payload).where(*_pending(now))
    if ids is not None:
        q = q.where(O.c.id.in_(ids))
    if tried:
        q = q.where(O.c.id.not_in(tried))
    return session.connection().execute(q.order_by(O.c.id).limit(1).with_for_update(skip_locked=True)).first()


def _source(session: Session, hazard: Hazard, event: AuditEvent) -> content.Source:
    payload = json.loads(event.payload)
    actor_region = None
    if event.actor_id is not None:
        actor_region = session.execute(select(User.region_code).where(User.id == event.actor_id)).scalar_one_or_none()
    enterprise = None
    if hazard.enterprise_id is not None:
        enterprise = session.execute(
            select(Enterprise.name).where(Enterprise.id == hazard.enterprise_id)).scalar_one_or_none()
    request = None
    if event.action in ("grant_extension", "deny_extension"):
        earlier = session.execute(
            select(AuditEvent.payload).where(AuditEvent.hazard_id == hazard.id, AuditEvent.seq < event.seq,
                                             AuditEvent.action == "request_extension")
            .order_by(AuditEvent.seq.desc()).limit(1)).scalar_one_or_none()
        request = json.loads(earlier).get("body") if earlier else None
    return content.Source(
        hazard=hazard, enterprise_name=enterprise, action=event.action, body=payload.get("body") or {},
        changes=payload.get("changes") or {}, occurred_at=event.occurred_at, actor_role=event.actor_role,
        actor_region=actor_region, extension_request=request)


def _issue(session: Session, row: Any, now: datetime) -> Document:
    kind = kind_of(row.kind)
    if kind.name in TASK_KINDS:  # a task list's: about a plan or a unit's part, not a hazard
        doc = task_documents.issue(session, row, kind, now)
        session.connection().execute(update(O).where(O.c.id == row.id).values(status="done", last_error=None))
        return doc
    hazard = session.execute(select(Hazard).where(Hazard.id == row.hazard_id).with_for_update()).scalar_one()
    event = session.get(AuditEvent, row.event_id) if row.event_id is not None else None
    if event is None:
        raise ValueError(f"outbox row {row.id} names no audit event")
    src = _source(session, hazard, event)
    plan = content.plan(session, kind, src)
    year = plan.dated.year
    code = issuers.code_of(session, plan.issuer, now=now)  # the body's own 机关代字
    seq = issuers.next_seq(session, code + kind.word, year)  # per 代字, kind and year
    number = issuers.number(code, kind.word, year, seq)
    html = render_html(kind.template, content.context(session, kind, src, plan, number))
    doc = Document(hazard_id=hazard.id, outbox_id=row.id, event_id=event.id, kind=kind.name, title=plan.title,
                   number=number, issuer=plan.issuer.key, issuer_name=plan.issuer.name, year=year, seq=seq,
                   html=html, sha256=hashlib.sha256(html.encode("utf-8")).hexdigest(), issued_at=now)
    session.add(doc)
    session.flush()
    transitions.perform(session, SYSTEM, hazard.id, "issue_document",
                        {"kind": kind.name, "number": number, "title": plan.title, "sha256": doc.sha256,
                         "document_id": doc.id}, now=now)
    session.connection().execute(update(O).where(O.c.id == row.id).values(status="done", last_error=None))
    return doc


def _record_failure(uow: UnitOfWork, row: Any, exc: BaseException, now: datetime) -> None:
    delay = min(MAX_BACKOFF, timedelta(minutes=1) * 2 ** row.attempts)
    with uow.write() as session:
        session.connection().execute(
            update(O).where(O.c.id == row.id, O.c.status == "pending")
            .values(attempts=O.c.attempts + 1, last_error=(str(exc) or type(exc).__name__)[:2000],
                    available_at=now + delay))


def issue_pending(uow: UnitOfWork, *, now: datetime, limit: int = 100,
                  ids: list[int] | None = None) -> IssueReport:
    """Issue up to `limit` pending documents, oldest first (only those of `ids` when given).
    A document that fails is logged, left pending with a backoff, and the run goes on."""
    report = IssueReport()
    tried: list[int] = []
    while report.issued + report.failed < limit:
        claimed: list[Any] = []
        try:
            with uow.write() as session:
                row = _claim(session, now, ids, tried)
                if row is not None:
                    claimed.append(row)
                    tried.append(row.id)
                    doc = _issue(session, row, now)
                    number, kind, hazard_id, doc_id = doc.number, doc.kind, doc.hazard_id, doc.id
        except Exception as exc:
            if not claimed:
                raise
            log.error("document_failed", outbox_id=claimed[0].id, kind=claimed[0].kind, error=str(exc))
            _record_failure(uow, claimed[0], exc, now)
            report.failed += 1
            continue
        if not claimed:
            break
        report.issued += 1
        report.numbers.append(number)
        log.info("document_issued", outbox_id=claimed[0].id, kind=kind, number=number, hazard_id=hazard_id,
                 document_id=doc_id)
    return report


def next_batch(uow: UnitOfWork, now: datetime, rows: int, hazards: int) -> tuple[list[int], list[str]]:
    """The oldest pending document rows, at most `rows` of them about at most `hazards` hazards,
    and those hazards' codes (a flow's task run is named and tagged after them). Rows about no
    hazard (a task list's documents) come along."""
    with uow.read() as session:
        pending = session.execute(
            select(O.c.id, Hazard.code).outerjoin(Hazard, Hazard.id == O.c.hazard_id)
            .where(*_pending(now)).order_by(O.c.id).limit(rows)).all()
    batch = outbox_batches.up_to_hazards(pending, hazards)
    return batch.ids, batch.codes
