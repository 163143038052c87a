"""Places and firms as the forms offer them: regions (all, or one subtree) and a region's name, an
enterprise, what the 上报隐患 form offers a user (regions and enterprises of their scope), and the
month and region a monthly page is asked for (`month_in_scope`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Enterprise, Region
from services.accounts.auth import Principal
from services.kernel import regions as region_codes
from services.kernel.errors import Forbidden, Invalid

MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


@dataclass(frozen=True)
class Named:
    """A region (its code) or an enterprise (its 统一社会信用代码) with its name."""

    code: str
    name: str

    @property
    def label(self) -> str:
        return f"{self.name}（{self.code}）"


@dataclass(frozen=True)
class EnterpriseInfo:
    id: int
    uscc: str
    name: str
    region_code: str
    industry: str


@dataclass(frozen=True)
class ReportChoices:
    own: EnterpriseInfo | None  # the enterprise user's own enterprise
    regions: list[Named]
    enterprises: list[Named]  # by name, at most the limit asked for


def regions(session: Session, prefix: str = "") -> list[Named]:
    """The regions whose code starts with `prefix` (every one for ""), by code."""
    query = select(Region.code, Region.name).order_by(Region.code)
    if prefix:
        query = query.where(Region.code.startswith(prefix, autoescape=True))
    return [Named(code, name) for code, name in session.execute(query)]


def region_name(session: Session, code: str) -> str | None:
    return session.execute(select(Region.name).where(Region.code == code)).scalar()


@dataclass(frozen=True)
class MonthRegion:
    month: str
    code: str
    name: str
    parent_code: str | None


def month_in_scope(session: Session, principal: Principal, *, month: str | None, region_code: str | None,
                   today: date, what: str) -> MonthRegion:
    """The month (`YYYY-MM`, not after this one) and the province, city or county (default: the
    caller's own) that a monthly page or report is asked for: 422 with field-level messages for a
    bad month or code, 403 for a region outside the caller's scope (`what` names the page)."""
    problems = []
    if not MONTH.fullmatch(month or ""):
        problems.append({"field": "month", "message": "月份格式应为 YYYY-MM，例如 2026-11"})
    elif (month or "") > f"{today.year:04d}-{today.month:02d}":
        problems.append({"field": "month", "message": "不能查看尚未开始的月份"})
    code = region_code or principal.region_code
    if not region_codes.valid_code(code) or len(code) != 6:
        problems.append({"field": "region", "message": "行政区划代码应为6位数字（省、市或县）"})
    if problems:
        raise Invalid("查询条件有误", details=problems)
    found = session.execute(select(Region.name, Region.parent_code).where(Region.code == code)).first()
    if found is None:
        raise Invalid("查询条件有误", details=[{"field": "region", "message": "未知的行政区划代码"}])
    if not region_codes.within(code, principal.region_code):
        raise Forbidden(f"只能查看本辖区及下级地区的{what}", code="scope")
    return MonthRegion(month or "", code, found.name, found.parent_code)


def enterprise(session: Session, enterprise_id: int) -> EnterpriseInfo | None:
    ent = session.get(Enterprise, enterprise_id)
    if ent is None:
        return None
    return EnterpriseInfo(ent.id, ent.uscc, ent.name, ent.region_code, ent.industry)


def report_choices(session: Session, user: Principal, *, limit: int) -> ReportChoices:
    """What the 上报隐患 form offers `user`: an enterprise user their own enterprise and its region;
    others the regions of their scope and its active enterprises (of their industry, if they have
    one), at most `limit` of them."""
    own = enterprise(session, user.enterprise_id) if user.enterprise_id else None
    prefix = own.region_code if own else user.region_prefix
    firms = (select(Enterprise.uscc, Enterprise.name).where(Enterprise.active.is_(True))  # a disabled one takes none
             .order_by(Enterprise.name).limit(limit))
    firms = (firms.where(Enterprise.id == own.id) if own
             else firms.where(Enterprise.region_code.startswith(prefix, autoescape=True)))
    if user.industry:
        firms = firms.where(Enterprise.industry == user.industry)
    return ReportChoices(own, regions(session, prefix), [Named(uscc, name) for uscc, name in session.execute(firms)])
