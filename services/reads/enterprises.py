"""一张表 (issue 13 item 7): the enterprises a government reader oversees, each with its 行业主管部门
and 监管责任人, open hazards, 黑名单 status and this month's self-inspection return; and one
enterprise's page: its hazards, returns, 黑名单 decisions and history by date.

Scope: a government role (inspector, supervisor, committee office, auditor, admin) sees the
enterprises of its region subtree (an inspector or supervisor bound to an industry: that
industry's); anything else answers 404 for one enterprise, so existence does not leak. Lists are
set-based: one grouped query per column, for the page's enterprises only.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from db.models import BlacklistDecision, Enterprise, Hazard, Region, SelfInspection
from services.accounts.auth import Principal, scope_clause
from services.blacklist import decisions as bl_decisions
from services.blacklist.status import OPEN_STATES, listed_ids
from services.kernel.clock import local_date
from services.kernel.errors import Forbidden, Invalid, NotFound
from services.kernel.vocab import INDUSTRIES, LEVELS
from services.lifecycle.roles import Role
from services.lifecycle.states import STATE_LABELS, State
from services.reads.filters import is_overdue

GOVERNMENT = frozenset({Role.INSPECTOR, Role.SUPERVISOR, Role.COMMITTEE, Role.AUDITOR, Role.ADMIN})
MAX_PER_PAGE = 200
MAX_HAZARDS = 500  # an enterprise page lists its newest hazards up to this many


class EnterpriseRow(BaseModel):
    id: int
    name: str
    uscc: str
    region_code: str
    region_name: str | None
    industry: str
    active: bool
    supervising_department: str | None
    responsible_official: str | None
    open_hazards: int
    blacklisted: bool
    return_filed: bool  # this month's self-inspection return (企业自查) is on file


class EnterprisePage(BaseModel):
    items: list[EnterpriseRow]
    total: int
    page: int
    pages: int
    per_page: int
    month: str
    unassigned_total: int  # enterprises in scope with no 行业主管部门


class EnterpriseHazard(BaseModel):
    id: int
    code: str
    title: str
    state: str
    state_label: str
    level_label: str | None
    category: str | None
    discovered_on: str
    deadline: str | None
    overdue: bool
    closed_on: str | None


class ReturnOut(BaseModel):
    month: str
    nil_return: bool
    principal: str
    filed_on: str


class HistoryItem(BaseModel):
    on: str
    kind: str  # hazard_opened | hazard_closed | return | blacklist
    text: str
    hazard_id: int | None = None


class EnterpriseDetail(BaseModel):
    enterprise: EnterpriseRow
    listed_until: str | None
    hazards: list[EnterpriseHazard]
    returns: list[ReturnOut]
    decisions: list[bl_decisions.DecisionOut]
    history: list[HistoryItem]


def _readable(principal: Principal) -> None:
    if principal.role not in GOVERNMENT:
        raise Forbidden("当前角色无权查看企业一张表", code="role")


def scope(principal: Principal) -> ColumnElement[bool]:
    clause = Enterprise.region_code.startswith(principal.region_prefix, autoescape=True)
    if principal.role in (Role.INSPECTOR, Role.SUPERVISOR) and principal.industry:
        clause = and_(clause, Enterprise.industry == principal.industry)
    return clause


def _unassigned() -> ColumnElement[bool]:
    return or_(Enterprise.supervising_department.is_(None), func.trim(Enterprise.supervising_department) == "")


def _rows(session: Session, principal: Principal, ents: list[tuple[Enterprise, str | None]], today: date
          ) -> list[EnterpriseRow]:
    ids = [e.id for e, _ in ents]
    if not ids:
        return []
    month = today.strftime("%Y-%m")
    open_counts = dict(session.execute(
        select(Hazard.enterprise_id, func.count()).where(Hazard.enterprise_id.in_(ids), Hazard.state.in_(OPEN_STATES),
                                                         scope_clause(principal))
        .group_by(Hazard.enterprise_id)).all())
    filed = set(session.scalars(select(SelfInspection.enterprise_id).where(
        SelfInspection.enterprise_id.in_(ids), SelfInspection.month == month)))
    listed = listed_ids(session, today, ids)
    return [EnterpriseRow(id=e.id, name=e.name, uscc=e.uscc, region_code=e.region_code, region_name=rname,
                          industry=e.industry, active=e.active, supervising_department=e.supervising_department,
                          responsible_official=e.responsible_official, open_hazards=open_counts.get(e.id, 0),
                          blacklisted=e.id in listed, return_filed=e.id in filed) for e, rname in ents]


def list_view(session: Session, principal: Principal, *, now: datetime, unassigned: bool = False,
              industry: str | None = None, blacklisted: bool | None = None, q: str | None = None,
              page: int = 1, per_page: int = 50) -> EnterprisePage:
    _readable(principal)
    problems = []
    if industry and industry not in INDUSTRIES:
        problems.append({"field": "industry", "message": "未知的行业领域"})
    if q is not None and len(q) > 100:
        problems.append({"field": "q", "message": "关键词不能超过100个字符"})
    if not 1 <= per_page <= MAX_PER_PAGE:
        problems.append({"field": "per_page", "message": f"每页条数应为 1 到 {MAX_PER_PAGE} 之间的整数"})
    if page < 1:
        problems.append({"field": "page", "message": "页码应为正整数"})
    if problems:
        raise Invalid("查询条件有误，请按提示修改。", details=problems)
    today = local_date(now)
    where = [scope(principal)]
    if unassigned:
        where.append(_unassigned())
    if industry:
        where.append(Enterprise.industry == industry)
    if q and q.strip():
        term = q.strip()
        where.append(or_(Enterprise.name.icontains(term, autoescape=True),
                         Enterprise.uscc.icontains(term, autoescape=True)))
    if blacklisted is not None:
        listed = sorted(listed_ids(session, today))
        where.append(Enterprise.id.in_(listed) if blacklisted else Enterprise.id.not_in(listed))
    total = session.scalar(select(func.count()).select_from(Enterprise).where(*where)) or 0
    unassigned_total = session.scalar(select(func.count()).select_from(Enterprise)
                                      .where(scope(principal), _unassigned())) or 0
    pages = max(1, -(-total // per_page))
    current = min(page, pages)
    ents = session.execute(
        select(Enterprise, Region.name).outerjoin(Region, Region.code == Enterprise.region_code).where(*where)
        .order_by(Enterprise.region_code, Enterprise.name, Enterprise.id)
        .offset((current - 1) * per_page).limit(per_page)).all()
    return EnterprisePage(items=_rows(session, principal, [(e, r) for e, r in ents], today), total=total,
                          page=current, pages=pages, per_page=per_page, month=today.strftime("%Y-%m"),
                          unassigned_total=unassigned_total)


def _day(moment: datetime) -> str:
    return local_date(moment).isoformat()


def detail(session: Session, principal: Principal, enterprise_id: int, *, now: datetime) -> EnterpriseDetail:
    if principal.role not in GOVERNMENT:
        raise NotFound("未找到该企业")
    found = session.execute(select(Enterprise, Region.name).outerjoin(Region, Region.code == Enterprise.region_code)
                            .where(Enterprise.id == enterprise_id, scope(principal))).first()
    if found is None:
        raise NotFound("未找到该企业")
    today = local_date(now)
    [row] = _rows(session, principal, [(found[0], found[1])], today)
    hazards = session.scalars(select(Hazard).where(Hazard.enterprise_id == enterprise_id, scope_clause(principal))
                              .order_by(Hazard.discovered_at.desc(), Hazard.id.desc()).limit(MAX_HAZARDS)).all()
    hz = [EnterpriseHazard(id=h.id, code=h.code, title=h.title, state=h.state, state_label=STATE_LABELS[State(h.state)],
                           level_label=LEVELS.get(h.level or ""), category=h.category,
                           discovered_on=_day(h.discovered_at), deadline=h.deadline.isoformat() if h.deadline else None,
                           overdue=is_overdue(h.deadline, h.state, today),
                           closed_on=_day(h.closed_at) if h.closed_at else None) for h in hazards]
    returns = [ReturnOut(month=r.month, nil_return=r.nil_return, principal=r.principal, filed_on=_day(r.filed_at))
               for r in session.scalars(select(SelfInspection).where(SelfInspection.enterprise_id == enterprise_id)
                                        .order_by(SelfInspection.month.desc()))]
    decided = bl_decisions.history(session, enterprise_id)
    until = session.scalar(select(func.max(BlacklistDecision.listed_until)).where(
        BlacklistDecision.enterprise_id == enterprise_id, BlacklistDecision.decision == "listed"))
    history: list[HistoryItem] = []
    for h in hz:
        history.append(HistoryItem(on=h.discovered_on, kind="hazard_opened", text=f"发现隐患 {h.code} {h.title}",
                                   hazard_id=h.id))
        if h.closed_on and h.state == State.CLOSED.value:
            history.append(HistoryItem(on=h.closed_on, kind="hazard_closed", text=f"隐患销号 {h.code}", hazard_id=h.id))
    for r in returns:
        history.append(HistoryItem(on=r.filed_on, kind="return",
                                   text=f"报送 {r.month} 自查报告" + ("（未发现重大事故隐患）" if r.nil_return else "")))
    for d in decided:
        period = f"，{d.listed_from} 至 {d.listed_until}" if d.listed_from else ""
        history.append(HistoryItem(on=d.decided_on, kind="blacklist",
                                   text=f"{d.quarter} 黑名单决定：{d.decision_label}{period}（理由：{d.reason}）"))
    history.sort(key=lambda item: item.on, reverse=True)
    return EnterpriseDetail(enterprise=row, listed_until=until.isoformat() if until else None, hazards=hz,
                            returns=returns, decisions=decided, history=history)


class Oversight(BaseModel):
    """Who oversees a hazard's enterprise, for its page: 行业主管部门 and 监管责任人, and whether the
    reader may open the enterprise's page (government roles)."""

    id: int
    department: str | None
    official: str | None
    link: bool


def oversight(session: Session, principal: Principal, enterprise_id: int | None) -> Oversight | None:
    if enterprise_id is None:
        return None
    ent = session.get(Enterprise, enterprise_id)
    if ent is None:
        return None
    link = principal.role in GOVERNMENT and session.scalar(
        select(Enterprise.id).where(Enterprise.id == enterprise_id, scope(principal))) is not None
    return Oversight(id=ent.id, department=ent.supervising_department, official=ent.responsible_official, link=link)
