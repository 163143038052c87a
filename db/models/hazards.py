"""The hazards themselves, the sequence behind their codes, their attachments and the public reports
that created some of them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, UTCDateTime
from db.models.columns import BigId
from db.models.organisations import Enterprise


class HazardSequence(Base):
    """Next number of the hazard code per county region and year (`141102-2026-000123`)."""

    __tablename__ = "hazard_sequences"

    region_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class Hazard(Base):
    __tablename__ = "hazards"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    location: Mapped[str] = mapped_column(String(300))
    industry: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(100))
    level: Mapped[str | None] = mapped_column(String(16))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"))
    state: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=0)
    audit_head: Mapped[str] = mapped_column(String(64))
    escalation_step: Mapped[str | None] = mapped_column(String(32))
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)

    discovered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline: Mapped[date | None] = mapped_column(Date)
    reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    tracking_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    repeat_of_id: Mapped[int | None] = mapped_column(ForeignKey("hazards.id"))
    dismiss_reason: Mapped[str | None] = mapped_column(Text)

    listing_level: Mapped[str | None] = mapped_column(String(16))
    listing_body: Mapped[str | None] = mapped_column(String(100))
    listed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    plan_due: Mapped[date | None] = mapped_column(Date)

    plan_responsible_person: Mapped[str | None] = mapped_column(String(100))
    plan_measures: Mapped[str | None] = mapped_column(Text)
    plan_funds_wan: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    plan_time_limit: Mapped[date | None] = mapped_column(Date)
    plan_contingency: Mapped[str | None] = mapped_column(Text)
    plan_filed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    extension_new_deadline: Mapped[date | None] = mapped_column(Date)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    extension_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    extensions_granted: Mapped[int] = mapped_column(Integer, default=0)

    acceptance_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    funds_spent_wan: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_acceptances: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # One bit per ladder step fired against the current deadline (services.escalation.ladder.Step);
    # last because migration 0002 added it.
    escalation_fired: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The self-inspection return (企业自查) that found it (migration 0012).
    self_inspection_id: Mapped[int | None] = mapped_column(ForeignKey("self_inspections.id"))

    enterprise: Mapped[Enterprise | None] = relationship(lazy="raise")

    __table_args__ = (
        Index("ix_hazards_region_code_id", "region_code", "id"),
        Index("ix_hazards_state_deadline", "state", "deadline"),
        Index("ix_hazards_enterprise_id", "enterprise_id"),
        CheckConstraint("level IS NULL OR level IN ('general','major')", name="level"),
        CheckConstraint(
            "state IN ('reported','registered','supervised','rectifying',"
            "'acceptance_requested','accepted','closed','dismissed')",
            name="state",
        ),
    )


class Attachment(Base):
    """An uploaded file, content-addressed on disk by its SHA-256: of a hazard, or of a task
    unit's part (`assignment_id`, issue 14: the evidence of its progress and completion)."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    hazard_id: Mapped[int | None] = mapped_column(ForeignKey("hazards.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("task_assignments.id"), index=True)

    __table_args__ = (CheckConstraint("hazard_id IS NOT NULL OR assignment_id IS NOT NULL", name="owner"),)


class PublicSubmission(Base):
    """One public 举报, by a salted hash of the sender's address: the rate limit counts these."""

    __tablename__ = "public_submissions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_hash: Mapped[str] = mapped_column(String(64))
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_public_submissions_client_created", "client_hash", "created_at"),)
