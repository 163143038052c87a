"""Official documents (公文) as issued, their issuing bodies and the sequences behind their numbers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime
from db.models.columns import BigId


class DocumentIssuer(Base):
    """An issuing body (`key`, e.g. `141102:bureau`) and its 机关代字 (`code`, e.g. 离石应急), unique
    across the deployment so no two bodies can write the same document number
    (services/documents/issuers.py; `hazard issuers list|set`)."""

    __tablename__ = "document_issuers"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DocumentSequence(Base):
    """The last document number of one 代字 and kind (`issuer`, e.g. `离石应急改`) in one year.
    Bumped in the transaction that stores the document, so a rollback leaves no gap."""

    __tablename__ = "document_sequences"

    issuer: Mapped[str] = mapped_column(String(32), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class Document(Base):
    """An issued official document (公文, DESIGN 2.6): its HTML exactly as issued and its SHA-256,
    which the hazard's audit trail also records. One per outbox row (`outbox_id` is unique), so a
    retried issuing run cannot issue the same document twice."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    hazard_id: Mapped[int | None] = mapped_column(ForeignKey("hazards.id"))
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), unique=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("audit_events.id"))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(100))
    number: Mapped[str] = mapped_column(String(64), unique=True)
    issuer: Mapped[str] = mapped_column(String(32))
    issuer_name: Mapped[str] = mapped_column(String(100))
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    html: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A task list's documents (issue 14): the 任务交办通知 of a plan, the 督办函 of one unit's part.
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("task_plans.id"))
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("task_assignments.id"))

    __table_args__ = (
        Index("ix_documents_hazard_id_id", "hazard_id", "id"),
        CheckConstraint("hazard_id IS NOT NULL OR plan_id IS NOT NULL", name="owner"),
    )
