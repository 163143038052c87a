"""Reading returns: one return (the enterprise's own, or one in a government reader's scope;
anything else answers 404), an enterprise's returns, and the filing status of every active
enterprise of a region subtree for a month (set-based: one query for the rows, one for the totals)."""

from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, func, select, true
from sqlalchemy.orm import Session

from db.models import Enterprise, Hazard, SelfInspection, SpotFix
from services.accounts.auth import Principal
from services.calendar.workdays import WorkCalendar, default_calendar
from services.inspections import window
from services.inspections.models import (
    EarlierHazard, LinkedHazard, ReturnList, ReturnOut, SpotFixOut, StatusRow,
)
from services.kernel import regions
from services.kernel.clock import local_date
from services.kernel.errors import Forbidden, NotFound
from services.lifecycle.roles import Role
from services.lifecycle.states import STATE_LABELS, State
from services.reads.directory import month_in_scope

READERS = frozenset({Role.COMMITTEE, Role.SUPERVISOR, Role.INSPECTOR, Role.AUDITOR, Role.ADMIN})
NOT_FOUND = "自查报告不存在或不在您的管辖范围内"


def enterprise_scope(principal: Principal) -> ColumnElement[bool]:
    """The enterprises whose returns `principal` may read (the hazards' scope rule, on enterprises)."""
    if principal.role == Role.ENTERPRISE:
        return Enterprise.id == (principal.enterprise_id or 0)
    if principal.role not in READERS:
        return Enterprise.id == 0
    clause = Enterprise.region_code.startswith(principal.region_prefix, autoescape=True)
    if principal.role in (Role.INSPECTOR, Role.SUPERVISOR) and principal.industry:
        clause = and_(clause, Enterprise.industry == principal.industry)
    return clause


def load_visible(session: Session, principal: Principal, return_id: int) -> tuple[SelfInspection, Enterprise]:
    if not 0 < return_id < 2**63:
        raise NotFound(NOT_FOUND)
    found = session.execute(select(SelfInspection, Enterprise).join(Enterprise, Enterprise.id == SelfInspection.enterprise_id)
                            .where(SelfInspection.id == return_id, enterprise_scope(principal))).first()
    if found is None:
        raise NotFound(NOT_FOUND)
    return found[0], found[1]


def spot_fix_out(fix: SpotFix) -> SpotFixOut:
    return SpotFixOut(id=fix.id, self_inspection_id=fix.self_inspection_id, description=fix.description,
                      location=fix.location, measures=fix.measures, fixed_on=fix.fixed_on.isoformat(),
                      evidence_filename=fix.evidence_filename, evidence_content_type=fix.evidence_content_type,
                      evidence_size=fix.evidence_size, evidence_sha256=fix.evidence_sha256,
                      created_at=fix.created_at.isoformat())


def get_view(session: Session, principal: Principal, return_id: int, *, now: datetime,
             calendar: WorkCalendar | None = None) -> ReturnOut:
    row, ent = load_visible(session, principal, return_id)
    hazards = session.scalars(select(Hazard).where(Hazard.self_inspection_id == row.id).order_by(Hazard.id)).all()
    fixes = session.scalars(select(SpotFix).where(SpotFix.self_inspection_id == row.id).order_by(SpotFix.id)).all()
    earlier = [EarlierHazard(**e) for e in json.loads(row.earlier_state or "[]")]
    return ReturnOut(
        id=row.id, enterprise_id=ent.id, enterprise_name=ent.name, enterprise_uscc=ent.uscc,
        region_code=ent.region_code, month=row.month, checked_from=row.checked_from.isoformat(),
        checked_to=row.checked_to.isoformat(), scope=row.scope, principal=row.principal,
        nil_return=row.nil_return, version=row.version, filed_at=row.filed_at.isoformat(),
        amendable=window.is_open(row.month, local_date(now), calendar or default_calendar()),
        hazards=[LinkedHazard(id=h.id, code=h.code, title=h.title, state=h.state,
                              state_label=STATE_LABELS[State(h.state)], level=h.level) for h in hazards],
        earlier=earlier, spot_fixes=[spot_fix_out(f) for f in fixes])


def _counts():
    hazards = (select(Hazard.self_inspection_id.label("rid"), func.count().label("n"))
               .where(Hazard.self_inspection_id.is_not(None)).group_by(Hazard.self_inspection_id).subquery())
    fixes = (select(SpotFix.self_inspection_id.label("rid"), func.count().label("n"))
             .group_by(SpotFix.self_inspection_id).subquery())
    return hazards, fixes


def _rows(session: Session, where: list[ColumnElement[bool]], month: str | None) -> list[StatusRow]:
    hazards, fixes = _counts()
    join_on = SelfInspection.enterprise_id == Enterprise.id
    if month is not None:
        join_on = and_(join_on, SelfInspection.month == month)
    query = (select(Enterprise.id, Enterprise.name, Enterprise.uscc, Enterprise.region_code, Enterprise.industry,
                    SelfInspection.id.label("rid"), SelfInspection.month, SelfInspection.nil_return,
                    SelfInspection.filed_at, SelfInspection.version,
                    func.coalesce(hazards.c.n, 0).label("hazards"), func.coalesce(fixes.c.n, 0).label("fixes"))
             .select_from(Enterprise)
             .join(SelfInspection, join_on, isouter=month is not None)
             .outerjoin(hazards, hazards.c.rid == SelfInspection.id)
             .outerjoin(fixes, fixes.c.rid == SelfInspection.id)
             .where(*where))
    order = (Enterprise.region_code, Enterprise.id) if month is not None else (SelfInspection.month.desc(),)
    return [StatusRow(enterprise_id=r.id, enterprise_name=r.name, enterprise_uscc=r.uscc, region_code=r.region_code,
                      industry=r.industry, month=r.month or month or "", filed=r.rid is not None, return_id=r.rid,
                      nil_return=r.nil_return, hazards=int(r.hazards), spot_fixes=int(r.fixes),
                      filed_at=r.filed_at.isoformat() if r.filed_at else None, version=r.version)
            for r in session.execute(query.order_by(*order).limit(5000))]


def list_view(session: Session, principal: Principal, *, month: str | None, region: str | None,
              missing: bool = False, today: date) -> ReturnList:
    """An enterprise: its own returns, newest month first. A government reader: every active
    enterprise of `region` (default their own; within their scope) for `month` (default this one),
    filed or not; `missing`: only those that have not filed (未报送)."""
    if principal.role == Role.ENTERPRISE:
        rows = _rows(session, [Enterprise.id == (principal.enterprise_id or 0)]
                     + ([SelfInspection.month == month] if month else []), None)
        return ReturnList(month=None, region_code=None, region_name=None, total=len(rows), filed=len(rows), rows=rows)
    if principal.role not in READERS:
        raise Forbidden("当前角色无权查看企业自查情况", code="role")
    asked = month_in_scope(session, principal, month=month or window.month_of(today), region_code=region,
                           today=today, what="企业自查情况")
    month, region, name = asked.month, asked.code, asked.name
    where = [Enterprise.active.is_(True), enterprise_scope(principal),
             Enterprise.region_code.startswith(regions.scope_prefix(region), autoescape=True)]
    total, filed = session.execute(
        select(func.count(), func.count(SelfInspection.id)).select_from(Enterprise)
        .outerjoin(SelfInspection, and_(SelfInspection.enterprise_id == Enterprise.id, SelfInspection.month == month))
        .where(*where)).one()
    rows = _rows(session, where + ([SelfInspection.id.is_(None)] if missing else [true()]), month)
    return ReturnList(month=month, region_code=region, region_name=name, total=int(total), filed=int(filed), rows=rows)
