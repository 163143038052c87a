"""Issue 14, item 2: an imported task list (任务清单) kept as a plan. A plan is a draft until the
issuing 安委办 has reviewed and corrected its tasks and publishes it; the same file from the same
issuer is the same plan (`(issuer_org_id, source_sha256)` is unique), so importing it twice makes
no second plan. Its tasks keep what the importer read (section, number, text, units as written and
as resolved, deadline and review flags); services/tasklists/drafts.py writes them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, String, Text, UniqueConstraint, false
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
