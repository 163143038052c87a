"""Issue 14, item 2: an imported task list (任务清单) kept as a plan. A plan is a draft until the
issuing 安委办 has reviewed and corrected its tasks and publishes it; the same file from the same
issuer is the same plan (`(issuer_org_id, source_sha256)` is unique), so importing it twice makes
no second plan. Its tasks keep what the importer read (section, number, text, units as written and
as resolved, deadline and review flags); services/tasklists/drafts.py writes them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime
from db.models.columns import BigId


class TaskPlan(Base):
    __tablename__ = "task_plans"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    year: Mapped[int] = mapped_column(Integer)
    issuer_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    source_filename: Mapped[str] = mapped_column(String(255))
    source_sha256: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("issuer_org_id", "source_sha256"),
        CheckConstraint("state IN ('draft','published')", name="state"),
    )


class PlanTask(Base):
    __tablename__ = "plan_tasks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("task_plans.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    section: Mapped[str] = mapped_column(String(200))
    number: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(400))
    text: Mapped[str] = mapped_column(Text)
    deadline: Mapped[date | None] = mapped_column(Date)
    deadline_text: Mapped[str] = mapped_column(String(200))
    flags: Mapped[str] = mapped_column(Text)  # JSON list of review flags (services/tasklists/models.py)
    reviewed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Once published: `open` until every unit's part is verified, then `closed` (销号) with its moment.
    state: Mapped[str] = mapped_column(String(8), default="open", server_default="open")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("plan_id", "seq"),)


class PlanTaskUnit(Base):
    __tablename__ = "plan_task_units"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("plan_tasks.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(8))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    org_ids: Mapped[str] = mapped_column(Text)  # JSON list: a group's members
    resolved_as: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (UniqueConstraint("task_id", "seq"),)


class TaskAssignment(Base):
    """Issue 14 item 3: one responsible unit's part of a published task (a group such as 各县（市、区）
    政府 is one part per member). Its lifecycle is `services.tasks.lifecycle.TASK_LIFECYCLE`, driven
    by the same transaction path as a hazard's (`services.engine.transitions`): `version` is its
    number of events on the record chain `assignment:<id>` and `audit_head` the last one's hash, both
    written by the compare-and-set that appends the event. The issuing office's region and body are
    copied here because the rules (who verifies, who decides an extension) read them with the row."""

    __tablename__ = "task_assignments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("task_plans.id"), index=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("plan_tasks.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    unit_name: Mapped[str] = mapped_column(String(100))  # as written in the plan
    role: Mapped[str] = mapped_column(String(8))  # 牵头 / 配合 / 负责
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))  # the unit's region
    issuer_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    issuer_region_code: Mapped[str] = mapped_column(String(12))
    state: Mapped[str] = mapped_column(String(24))
    deadline: Mapped[date] = mapped_column(Date)
    year_long: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    progress_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_progress_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_progress: Mapped[str | None] = mapped_column(Text)
    completion_reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completion_reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    completion: Mapped[str | None] = mapped_column(Text)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    returned_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    extension_new_deadline: Mapped[date | None] = mapped_column(Date)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    extension_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    extension_requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    extensions_granted: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    escalation_step: Mapped[str | None] = mapped_column(String(24))
    escalation_fired: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    progress_reminded: Mapped[str | None] = mapped_column(String(7))  # the last month reminded (YYYY-MM)
    version: Mapped[int] = mapped_column(Integer)
    audit_head: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("task_id", "org_id"),
        Index("ix_task_assignments_state_deadline", "state", "deadline"),
        CheckConstraint("state IN ('assigned','acknowledged','in_progress','reported','verified')", name="state"),
    )
