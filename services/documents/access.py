"""Reading issued documents, under the same scope rule as the hazard they belong to: a document
of a hazard the caller may not see answers 404 exactly like the hazard (services.engine.transitions.
load_in_scope), so neither leaks that it exists; the public sees none."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import AuditEvent, Document
from services.accounts.auth import Principal
from services.kernel.clock import local_date
from services.documents.kinds import KINDS
from services.kernel.errors import NotFound
from services.kernel.inputs import MAX_ID
from services.engine.transitions import load_in_scope

NOT_FOUND = "文书不存在或不在您的管辖范围内"


class DocumentOut(BaseModel):  # an issued document's facts; its HTML comes apart, from `get_document`
    id: int
    hazard_id: int
    kind: str
    kind_label: str
    number: str
    title: str
    issuer_name: str
    sha256: str
    issued_at: str  # when the engine issued it (the outbox may get to it later than the act)
    event_id: int  # the audit event of the act it records
    dated: str  # 成文日期 (YYYY-MM-DD): the day of that act, as the document itself is dated


_COLUMNS = (Document.id, Document.hazard_id, Document.kind, Document.number, Document.title,
            Document.issuer_name, Document.sha256, Document.issued_at, Document.event_id,
            AuditEvent.occurred_at.label("act_at"))


def _select(*extra: Any) -> Any:
    return select(*_COLUMNS, *extra).join(AuditEvent, AuditEvent.id == Document.event_id)


def _info(row: Any) -> DocumentOut:
    return DocumentOut(id=row.id, hazard_id=row.hazard_id, kind=row.kind, kind_label=KINDS[row.kind].label,
                       number=row.number, title=row.title, issuer_name=row.issuer_name, sha256=row.sha256,
                       issued_at=row.issued_at.isoformat(), event_id=row.event_id,
                       dated=local_date(row.act_at).isoformat())


def list_for_hazard(session: Session, principal: Principal, hazard_id: int) -> list[DocumentOut]:
    """The hazard's documents in the order of their acts (NotFound when out of scope)."""
    load_in_scope(session, principal, hazard_id)
    rows = session.execute(_select().where(Document.hazard_id == hazard_id).order_by(AuditEvent.seq, Document.id))
    return [_info(r) for r in rows]


def get_document(session: Session, principal: Principal, document_id: int) -> tuple[DocumentOut, str]:
    """One document and its HTML exactly as stored (its SHA-256 is the one in the audit trail)."""
    row = (session.execute(_select(Document.html).where(Document.id == document_id)).first()
           if 0 < document_id <= MAX_ID else None)
    if row is None:
        raise NotFound(NOT_FOUND)
    try:
        load_in_scope(session, principal, row.hazard_id)
    except NotFound:
        raise NotFound(NOT_FOUND) from None
    return _info(row), row.html
