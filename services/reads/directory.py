"""Places and firms as the forms offer them: regions (all, or one subtree) and a region's name, an
enterprise, and what the 上报隐患 form offers a user (regions and enterprises of their scope)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Enterprise, Region
from services.accounts.auth import Principal


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
