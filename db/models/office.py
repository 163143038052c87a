"""What an office keeps around the hazards every month (issue 13): the enterprises' self-inspection
returns (企业自查) and their on-the-spot fixes (立查立改), the monthly report submitted to the level
above (直报), the 通报 list and its documents, 黑名单 decisions, 问责移交 and 约谈 records, the
escalation steps of these monthly duties, and the hash chain that records every act on them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime
from db.models.columns import BigId


class RecordEvent(Base):
    """One link of an office record's hash chain (services/audit/records.py), like a hazard's
    `AuditEvent` but keyed by a subject string (`report:141102:2026-11`, `blacklist:17:2026-Q4`,
    `return:17:2026-11`, …). Append-only: PostgreSQL refuses UPDATE and DELETE."""

    __tablename__ = "record_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(80))
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str] = mapped_column(String(16))
    actor_name: Mapped[str] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON, exactly as hashed
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("subject", "seq"),)


class SelfInspection(Base):
    """An enterprise's monthly self-inspection return (企业自查), signed by its 主要负责人. One per
    enterprise and month (`YYYY-MM`); hazards it found link to it (`hazards.self_inspection_id`)."""

    __tablename__ = "self_inspections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    month: Mapped[str] = mapped_column(String(7))
    checked_from: Mapped[date] = mapped_column(Date)
    checked_to: Mapped[date] = mapped_column(Date)
    scope: Mapped[str] = mapped_column(Text)  # 检查范围
    principal: Mapped[str] = mapped_column(String(100))  # 主要负责人, who signs
    nil_return: Mapped[bool] = mapped_column(Boolean, default=False)  # 未发现重大事故隐患
    earlier_state: Mapped[str | None] = mapped_column(Text)  # 前期隐患整改情况
    filed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        UniqueConstraint("enterprise_id", "month"),
        Index("ix_self_inspections_month", "month"),
    )


class SpotFix(Base):
    """A general hazard found and fixed on the spot (立查立改), recorded by the enterprise itself
    with its evidence (a file stored by SHA-256 like the attachments)."""

    __tablename__ = "spot_fixes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    self_inspection_id: Mapped[int] = mapped_column(ForeignKey("self_inspections.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    description: Mapped[str] = mapped_column(Text)
    location: Mapped[str] = mapped_column(String(300))
    measures: Mapped[str] = mapped_column(Text)
    fixed_on: Mapped[date] = mapped_column(Date)
    evidence_filename: Mapped[str] = mapped_column(String(255))
    evidence_content_type: Mapped[str] = mapped_column(String(100))
    evidence_size: Mapped[int] = mapped_column(Integer)
    evidence_sha256: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReportSubmission(Base):
    """One region's monthly report (直报) for one month: a draft prepared by the flow, then submitted
    (上报) with its figures frozen (`snapshot`, canonical JSON, and its SHA-256, which the record
    chain also holds), returned (退回) with a reason or accepted (通过) by the level above."""

    __tablename__ = "report_submissions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    month: Mapped[str] = mapped_column(String(7))
    state: Mapped[str] = mapped_column(String(16))
    snapshot: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    drafted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    return_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        UniqueConstraint("region_code", "month"),
        Index("ix_report_submissions_month_state", "month", "state"),
        CheckConstraint("state IN ('draft','submitted','returned','accepted')", name="state"),
    )


class DutyStep(Base):
    """One escalation step of a monthly duty fired once (the hazards' ladder keeps its bits on the
    hazard): `subject` is the duty (`return:<enterprise id>:<month>`, `report:<region>:<month>`),
    `step` the rung (remind, list, publicize, …). The primary key makes a step fire at most once."""

    __tablename__ = "duty_steps"

    subject: Mapped[str] = mapped_column(String(80), primary_key=True)
    step: Mapped[str] = mapped_column(String(32), primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"))
    month: Mapped[str] = mapped_column(String(7))
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_duty_steps_month_step", "month", "step"),)


class BulletinItem(Base):
    """An entry on a region's 通报 list for a month: an overdue hazard (the ladder's `publicize`), an
    enterprise that missed its self-inspection return, or a region that reported late. `key` makes
    an entry once; the committee office includes or excludes it, and issuing a 通报 binds the
    included ones to it."""

    __tablename__ = "bulletin_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))  # whose list
    month: Mapped[str] = mapped_column(String(7))
    kind: Mapped[str] = mapped_column(String(24))
    hazard_id: Mapped[int | None] = mapped_column(ForeignKey("hazards.id"))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"))
    subject_region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="proposed")
    review_note: Mapped[str | None] = mapped_column(Text)
    bulletin_id: Mapped[int | None] = mapped_column(ForeignKey("bulletins.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_bulletin_items_region_month", "region_code", "month"),
        CheckConstraint(
            "kind IN ('overdue_hazard','missed_return','late_report','overdue_task')", name="kind"
        ),
        CheckConstraint("status IN ('proposed','included','excluded')", name="status"),
    )


class Bulletin(Base):
    """An issued 通报 (a numbered document, HTML exactly as issued and its SHA-256)."""

    __tablename__ = "bulletins"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    month: Mapped[str] = mapped_column(String(7))
    number: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    issuer_name: Mapped[str] = mapped_column(String(100))
    html: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_bulletins_region_month", "region_code", "month"),)


class BlacklistDecision(Base):
    """The committee office's decision on a 黑名单 candidate for a quarter (`2026-Q4`): 列入 (listed,
    with the period it runs) or 不列入, with its reason and the evidence it was shown."""

    __tablename__ = "blacklist_decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    quarter: Mapped[str] = mapped_column(String(7))
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text)  # JSON, as shown to the decider
    listed_from: Mapped[date | None] = mapped_column(Date)
    listed_until: Mapped[date | None] = mapped_column(Date)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("enterprise_id", "quarter"),
        CheckConstraint("decision IN ('listed','not_listed')", name="decision"),
    )


class AccountabilityBody(Base):
    """The 纪检监察 body a region's 问责移交 is addressed to (configured per region; the nearest
    configured ancestor applies)."""

    __tablename__ = "accountability_bodies"

    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Referral(Base):
    """A 问责移交 made by the ladder's `refer` step (one per such audit event): the facts, the
    timeline and the steps already taken as sent, addressed to the region's 纪检监察 body, and the
    outcome the office records when it hears back."""

    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("audit_events.id"), unique=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    addressed_to: Mapped[str] = mapped_column(String(100))
    facts: Mapped[str] = mapped_column(Text)  # JSON: facts, timeline, steps taken
    number: Mapped[str | None] = mapped_column(String(64), unique=True)
    html: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16), default="pending")
    outcome_note: Mapped[str | None] = mapped_column(Text)
    outcome_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint(
            "outcome IN ('pending','accepted','investigating','concluded','declined')", name="outcome"
        ),
    )


class Summons(Base):
    """A 约谈 (the ladder's `summon` step, one per such audit event): when it was held, who attended
    and what the enterprise committed to; later progress reports can cite it."""

    __tablename__ = "summonses"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("audit_events.id"), unique=True)
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    held_on: Mapped[date | None] = mapped_column(Date)
    attendees: Mapped[str | None] = mapped_column(Text)
    commitments: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
