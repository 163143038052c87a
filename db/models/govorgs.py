"""Government bodies (issue 14, item 1): 安委会 and its office, departments, lower governments,
乡镇/街道 and 开发区, each with its region, and the aliases plans use for them (市应急局 =
吕梁市应急管理局). Users belong to one (`users.organisation_id`). Loaded by `hazard orgs import`;
names in task lists are resolved to them by services/organisations/resolve.py.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, UniqueConstraint, false, true
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime
from db.models.columns import BigId

ORG_KINDS = ("committee", "committee_office", "department", "government", "township", "subdistrict", "zone",
             "party", "other")


class Organisation(Base):
    """One government body. `region_code` is where it sits (a 乡镇 sits in its county);
    `committee_member` marks the 安委会成员单位, `safety_supervision` the 负有安全监管职责的部门."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    short_name: Mapped[str | None] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(24))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    committee_member: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    safety_supervision: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("region_code", "name"),
        CheckConstraint("kind IN (" + ",".join(f"'{k}'" for k in ORG_KINDS) + ")", name="kind"),
    )


class OrganisationAlias(Base):
    """Another name of an organisation as written in its region's plans (简称: 市应急局)."""

    __tablename__ = "organisation_aliases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alias: Mapped[str] = mapped_column(String(100))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)

    __table_args__ = (UniqueConstraint("region_code", "alias"),)
