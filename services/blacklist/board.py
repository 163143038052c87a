"""What a committee office works from for a quarter: the candidates of its region with their
evidence and any decision already taken, and the enterprises listed now."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Enterprise
from services.accounts.auth import Principal
from services.blacklist import candidates, decisions
from services.blacklist.status import listed_ids
from services.kernel import regions
from services.kernel.clock import local_date
from services.kernel.errors import Forbidden, Invalid


class BoardCandidate(candidates.Candidate):
    decision: decisions.DecisionOut | None = None


class ListedEnterprise(BaseModel):
    enterprise_id: int
    name: str
    uscc: str
    region_code: str


class Board(BaseModel):
    quarter: str
    region_code: str
    candidates: list[BoardCandidate]
    listed: list[ListedEnterprise]


def board(session: Session, principal: Principal, *, quarter: str | None, region_code: str | None,
          now: datetime) -> Board:
    decisions.require_committee(principal)
    today = local_date(now)
    quarter = quarter or candidates.quarter_of(today)
    region = region_code or principal.region_code
    if not regions.valid_code(region) or len(region) != 6:
        raise Invalid("查询条件有误", details=[{"field": "region", "message": "行政区划代码应为6位数字（省、市或县）"}])
    if not regions.within(region, principal.region_code):
        raise Forbidden("只能查看本辖区及下级地区的黑名单", code="scope")
    found = candidates.compute(session, region, quarter, today=today)
    taken = decisions.decided(session, quarter, [c.enterprise_id for c in found])
    prefix = regions.scope_prefix(region)
    listed = sorted(listed_ids(session, today))
    rows = session.execute(select(Enterprise.id, Enterprise.name, Enterprise.uscc, Enterprise.region_code)
                           .where(Enterprise.id.in_(listed), Enterprise.region_code.startswith(prefix, autoescape=True))
                           .order_by(Enterprise.region_code, Enterprise.name)).all() if listed else []
    return Board(quarter=quarter, region_code=region,
                 candidates=[BoardCandidate(**c.model_dump(), decision=taken.get(c.enterprise_id)) for c in found],
                 listed=[ListedEnterprise(enterprise_id=i, name=n, uscc=u, region_code=r) for i, n, u, r in rows])
