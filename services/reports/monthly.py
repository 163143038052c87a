"""The monthly report (月报) of a region subtree, by industry, in the national template's columns,
for the month and for the year to date, with the 动态清零 account of major hazards.

Computed set-based: one grouped query over the hazards, one over the enterprises and one over the
立查立改 records per period, whatever the number of hazards. Every figure is "as the records stand
now" for the period; a submitted report is frozen as a snapshot (issue 13, item 3), not recomputed.

Definitions (Asia/Shanghai months; a hazard counts once it is registered, i.e. has a level):
- found: discovered in the period; fixed (一般) / closed (重大): of those, 已销号 by the period's end;
  the enterprises' 立查立改 records fixed in the period count as general hazards found and fixed
  (by the enterprise's industry and region);
- in rectification: major, open at the period's end (by its history); 五落实: its plan names the
  responsible person, measures, funds, time limit and contingency plan;
- listed: open at the period's end and 挂牌督办 before it, by listing level;
- funds: the plans' funds (万元) of the hazards found in the period;
- overdue: `services.reads.filters.overdue_clause` at the period's last day (the one definition);
- on time: of the hazards 销号 in the period, those closed no later than their deadline's day;
- units due: the active enterprises of the subtree (and industry); checked: those with a
  self-inspection return filed for a month of the period or a hazard found in the period;
- 动态清零: majors open at the start + found − closed in the period = open at the end, and the
  year's target: every major open on 1 January closed by 31 December.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, case, func, select, union
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.orm import Session

from db.base import UTCDateTime
from db.models import Enterprise, Hazard, SelfInspection, SpotFix
from services.accounts.auth import Principal
from services.kernel import regions
from services.kernel.errors import Forbidden
from services.kernel.clock import SHANGHAI
from services.kernel.vocab import INDUSTRIES
from services.lifecycle.roles import Role
from services.lifecycle.states import State
from services.reads.directory import MONTH, month_in_scope
from services.reads.filters import open_at_clause, overdue_clause

CLOSED = State.CLOSED.value
LISTING_LEVELS = ("province", "city", "county")


class deadline_end(FunctionElement[datetime]):
    """The end of a deadline's day in Asia/Shanghai (UTC+8, no daylight saving) as a UTC moment:
    what "closed no later than the deadline" compares `closed_at` with, per row, in SQL."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(deadline_end, "postgresql")
def _deadline_end_pg(element, compiler, **kw):
    return f"(({compiler.process(element.clauses, **kw)} + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')"


@compiles(deadline_end, "sqlite")
def _deadline_end_sqlite(element, compiler, **kw):
    # SQLite keeps UTC timestamps as naive text: the day's end at +08:00 is 16:00 UTC that day.
    return f"datetime({compiler.process(element.clauses, **kw)}, '+16 hours')"


@dataclass(frozen=True)
class Period:
    first: date  # inclusive
    last: date  # inclusive

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, tzinfo=SHANGHAI)

    @property
    def end(self) -> datetime:
        return datetime.combine(date.fromordinal(self.last.toordinal() + 1), time.min, tzinfo=SHANGHAI)


def month_period(month: str) -> Period:
    """`YYYY-MM` → the month's first and last day."""
    year, mon = (int(part) for part in month.split("-"))
    first = date(year, mon, 1)
    following = date(year + mon // 12, mon % 12 + 1, 1)
    return Period(first, date.fromordinal(following.toordinal() - 1))


class Figures(BaseModel):
    industry: str | None  # None: the total
    units_due: int
    units_checked: int
    coverage_pct: float | None
    general_found: int
    general_fixed: int
    general_fixed_pct: float | None
    major_found: int
    major_closed: int
    major_closed_pct: float | None
    major_rectifying: int
    major_rectifying_five_items: int
    listed_province: int
    listed_city: int
    listed_county: int
    funds_wan: str  # decimal, two places
    overdue: int
    closed: int
    closed_on_time: int
    on_time_pct: float | None


class Clearing(BaseModel):
    """动态清零 of major hazards over the period, and the year's stock-clearing target."""
    stock_start: int
    found: int
    closed: int
    stock_end: int
    year_start_stock: int  # the target: all of these closed by the year's end
    year_start_cleared: int
    year_target_pct: float | None


class PeriodReport(BaseModel):
    first: str
    last: str
    rows: list[Figures]
    total: Figures
    clearing: Clearing


class MonthlyReport(BaseModel):
    month: str
    region_code: str
    region_name: str
    industry: str | None  # set when the reader's scope is one industry
    month_figures: PeriodReport
    year_to_date: PeriodReport


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _count(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _hazard_columns(p: Period) -> list[Any]:
    start, end = p.start, p.end
    found = and_(Hazard.discovered_at >= start, Hazard.discovered_at < end)
    closed_by_end = and_(Hazard.state == CLOSED, Hazard.closed_at < end)
    general, major = Hazard.level == "general", Hazard.level == "major"
    open_end = open_at_clause(end)
    five = and_(*(col.is_not(None) for col in (Hazard.plan_responsible_person, Hazard.plan_measures,
                                                 Hazard.plan_funds_wan, Hazard.plan_time_limit,
                                                 Hazard.plan_contingency)))
    closed_in = and_(Hazard.state == CLOSED, Hazard.closed_at >= start, Hazard.closed_at < end)
    listed = [_count(and_(Hazard.listing_level == level, Hazard.listed_at < end, open_end)).label(f"listed_{level}")
              for level in LISTING_LEVELS]
    return [
        _count(and_(general, found)).label("general_found"),
        _count(and_(general, found, closed_by_end)).label("general_fixed"),
        _count(and_(major, found)).label("major_found"),
        _count(and_(major, found, closed_by_end)).label("major_closed"),
        _count(and_(major, open_end)).label("major_rectifying"),
        _count(and_(major, open_end, five)).label("major_rectifying_five_items"),
        *listed,
        func.coalesce(func.sum(case((found, Hazard.plan_funds_wan), else_=None)), 0).label("funds_wan"),
        _count(overdue_clause(p.last, at=end)).label("overdue"),
        _count(closed_in).label("closed"),
        _count(and_(closed_in, Hazard.deadline.is_not(None),
                    Hazard.closed_at < deadline_end(Hazard.deadline))).label("closed_on_time"),
        _count(and_(major, open_at_clause(start))).label("stock_start"),
        _count(and_(major, closed_in)).label("major_closed_in"),
    ]


def _scope(region_code: str, industry: str | None) -> list[ColumnElement[bool]]:
    clauses = [Hazard.region_code.startswith(regions.scope_prefix(region_code), autoescape=True),
               Hazard.level.is_not(None)]
    if industry:
        clauses.append(Hazard.industry == industry)
    return clauses


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _units(session: Session, region_code: str, industry: str | None, p: Period) -> dict[str, tuple[int, int]]:
    """Per industry: active enterprises, and those checked in the period: a self-inspection return
    filed for a month of the period, or a hazard found in it. The checked ids are one UNION of
    distinct ids joined to the enterprises (not `IN` inside a CASE, which PostgreSQL re-evaluates
    row by row)."""
    found = (select(Hazard.enterprise_id.label("eid"))
             .where(Hazard.discovered_at >= p.start, Hazard.discovered_at < p.end,
                    Hazard.enterprise_id.is_not(None), Hazard.level.is_not(None)))
    filed = select(SelfInspection.enterprise_id.label("eid")).where(
        SelfInspection.month >= _month(p.first), SelfInspection.month <= _month(p.last))
    checked = union(found, filed).subquery()  # UNION: each id once
    query = (select(Enterprise.industry, func.count(), func.count(checked.c.eid))
             .outerjoin(checked, checked.c.eid == Enterprise.id)
             .where(Enterprise.active.is_(True),
                    Enterprise.region_code.startswith(regions.scope_prefix(region_code), autoescape=True))
             .group_by(Enterprise.industry))
    if industry:
        query = query.where(Enterprise.industry == industry)
    return {row[0]: (int(row[1]), int(row[2])) for row in session.execute(query)}


def _spot_fixes(session: Session, region_code: str, industry: str | None, p: Period) -> dict[str, int]:
    """Per industry (the enterprise's): 立查立改 records fixed in the period, each a general hazard
    found and fixed."""
    query = (select(Enterprise.industry, func.count()).select_from(SpotFix)
             .join(Enterprise, Enterprise.id == SpotFix.enterprise_id)
             .where(SpotFix.fixed_on >= p.first, SpotFix.fixed_on <= p.last,
                    Enterprise.region_code.startswith(regions.scope_prefix(region_code), autoescape=True))
             .group_by(Enterprise.industry))
    if industry:
        query = query.where(Enterprise.industry == industry)
    return {row[0]: int(row[1]) for row in session.execute(query)}


def _figures(industry: str | None, row: dict[str, Any], units: tuple[int, int]) -> Figures:
    """One row of the form from the grouped counts (`row`: {} for an industry without hazards)."""
    due, checked = units

    def n(name: str) -> int:
        return int(row.get(name) or 0)

    funds = Decimal(row.get("funds_wan") or 0).quantize(Decimal("0.01"))
    return Figures(
        industry=industry, units_due=due, units_checked=checked, coverage_pct=_pct(checked, due),
        general_found=n("general_found"), general_fixed=n("general_fixed"),
        general_fixed_pct=_pct(n("general_fixed"), n("general_found")),
        major_found=n("major_found"), major_closed=n("major_closed"),
        major_closed_pct=_pct(n("major_closed"), n("major_found")),
        major_rectifying=n("major_rectifying"), major_rectifying_five_items=n("major_rectifying_five_items"),
        listed_province=n("listed_province"), listed_city=n("listed_city"), listed_county=n("listed_county"),
        funds_wan=f"{funds:.2f}", overdue=n("overdue"), closed=n("closed"), closed_on_time=n("closed_on_time"),
        on_time_pct=_pct(n("closed_on_time"), n("closed")),
    )


def period_report(session: Session, region_code: str, p: Period, *, industry: str | None = None) -> PeriodReport:
    """One scan of the subtree's hazards (grouped by industry) and one of its enterprises; the total
    is the sum of the industries' counts."""
    scope = _scope(region_code, industry)
    year_start = datetime.combine(date(p.first.year, 1, 1), time.min, tzinfo=SHANGHAI)
    major_at_year_start = and_(Hazard.level == "major", open_at_clause(year_start))
    grouped = session.execute(
        select(Hazard.industry.label("industry"), *_hazard_columns(p),
               _count(major_at_year_start).label("year_start_stock"),
               _count(and_(major_at_year_start, Hazard.state == CLOSED, Hazard.closed_at < p.end))
               .label("year_start_cleared"))
        .where(*scope).group_by(Hazard.industry)).all()
    fields = [name for name in grouped[0]._fields if name != "industry"] if grouped else []
    by_industry = {row.industry: row._asdict() for row in grouped}
    for name, n in _spot_fixes(session, region_code, industry, p).items():  # 立查立改: general, found and fixed
        counts = by_industry.setdefault(name, {})
        for column in ("general_found", "general_fixed"):
            counts[column] = (counts.get(column) or 0) + n
            if column not in fields:
                fields.append(column)
    units = _units(session, region_code, industry, p)
    names = [i for i in INDUSTRIES if i in by_industry or i in units]
    names += sorted((set(by_industry) | set(units)) - set(names))
    total = {name: sum((row.get(name) or 0 for row in by_industry.values()), Decimal(0) if name == "funds_wan" else 0)
             for name in fields}
    rows = [_figures(i, by_industry.get(i, {}), units.get(i, (0, 0))) for i in names]
    all_units = (sum(u[0] for u in units.values()), sum(u[1] for u in units.values()))
    get = total.get
    clearing = Clearing(stock_start=get("stock_start", 0), found=get("major_found", 0),
                        closed=get("major_closed_in", 0), stock_end=get("major_rectifying", 0),  # open at the end
                        year_start_stock=get("year_start_stock", 0), year_start_cleared=get("year_start_cleared", 0),
                        year_target_pct=_pct(get("year_start_cleared", 0), get("year_start_stock", 0)))
    return PeriodReport(first=p.first.isoformat(), last=p.last.isoformat(), rows=rows,
                        total=_figures(None, total, all_units), clearing=clearing)


def monthly(session: Session, region_code: str, region_name: str, month: str, *,
            industry: str | None = None, today: date | None = None) -> MonthlyReport:
    """The month's report; a month still running (`today` inside it) counts up to today, so what
    is overdue is what is overdue now, not what will be by the month's end."""
    p = month_period(month)
    if today is not None and p.first <= today < p.last:
        p = Period(p.first, today)
    ytd = Period(date(p.first.year, 1, 1), p.last)
    return MonthlyReport(
        month=month, region_code=region_code, region_name=region_name, industry=industry,
        month_figures=period_report(session, region_code, p, industry=industry),
        year_to_date=period_report(session, region_code, ytd, industry=industry),
    )


READERS = frozenset({Role.COMMITTEE, Role.SUPERVISOR, Role.INSPECTOR, Role.AUDITOR, Role.ADMIN})
_MONTH = MONTH  # the 直报 modules name it so


def for_reader(session: Session, principal: Principal, *, month: str, region_code: str | None,
               today: date) -> MonthlyReport:
    """The report a government reader may see: their own region or one below it (default: their
    own); an inspector or supervisor bound to one industry sees that industry only."""
    if principal.role not in READERS:
        raise Forbidden("当前角色无权查看月报", code="role")
    asked = month_in_scope(session, principal, month=month, region_code=region_code, today=today, what="月报")
    industry = principal.industry if principal.role in (Role.INSPECTOR, Role.SUPERVISOR) else None
    return monthly(session, asked.code, asked.name, asked.month, industry=industry or None, today=today)
