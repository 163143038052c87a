"""The 看板 (dashboard) figures, limited to the caller's scope.

Every figure is one grouped SQL query: counts by state, level, industry and county; the overdue
trend (hazards overdue at each of the last weeks' ends); the stock of open major hazards at each
month end (动态清零). The time series join the hazards to a small table of instants built in the
query, so the database counts each point; nothing loops over hazards in Python.

History is read from the hazard rows: opened = `discovered_at`, finished = `closed_at` (closing
and dismissing both set it), and the deadline is the current one (open and overdue at a moment as
services/reads/filters.py defines them: `open_at_clause`, `overdue_clause`). A deadline moved by a
granted extension therefore counts from the new date in past weeks as well: the trend shows today's
deadlines, which is what the figures of the monthly report use too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, and_, func, literal, select, union_all
from sqlalchemy.orm import Session

from db.base import UTCDateTime
from db.models import Hazard, Region
from services.calendar import years as calendar_years
from services.accounts.auth import Principal, scope_clause
from services.calendar.workdays import WorkCalendar
from services.kernel.clock import SHANGHAI, local_date
from services.lifecycle.states import FINAL_STATES, STATE_LABELS, State
from services.kernel.vocab import LEVELS
from services.reads.filters import open_at_clause, overdue_clause

WEEKS = 12
MONTHS = 12


@dataclass(frozen=True)
class Point:
    label: str
    day: date
    value: int


def end_of(day: date) -> datetime:
    """The instant day `day` ends in Asia/Shanghai (the next local midnight)."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=SHANGHAI)


def _instants(days: list[date]) -> Any:
    """A derived table (day, moment) of the given days, for set-based time series."""
    rows = [select(literal(d, Date).label("day"), literal(end_of(d), UTCDateTime()).label("moment"))
            for d in days]
    return union_all(*rows).subquery("instants")


def _series(session: Session, principal: Principal, days: list[date], where: Any) -> dict[date, int]:
    """Per day, the in-scope hazards that meet `where(instants)` (instants: a day and its end)."""
    instants = _instants(days)
    rows = session.execute(
        select(instants.c.day, func.count(Hazard.id))
        .select_from(instants)
        .join(Hazard, and_(scope_clause(principal), where(instants)))
        .group_by(instants.c.day)
    ).all()
    counts = {(d if isinstance(d, date) else date.fromisoformat(str(d))): n for d, n in rows}
    return {d: counts.get(d, 0) for d in days}


def week_ends(today: date, weeks: int = WEEKS) -> list[date]:
    """The last `weeks` Sundays up to today, today itself standing for the current week."""
    last_sunday = today - timedelta(days=(today.weekday() + 1) % 7)
    days = [last_sunday - timedelta(weeks=i) for i in range(weeks - 1, -1, -1)]
    return days[1:] + [today] if days[-1] != today else days


def month_ends(today: date, months: int = MONTHS) -> list[date]:
    """The ends of the previous `months - 1` months, then today (the current month so far)."""
    days = [today]
    first = today.replace(day=1)
    for _ in range(months - 1):
        end = first - timedelta(days=1)
        days.insert(0, end)
        first = end.replace(day=1)
    return days


def overdue_trend(session: Session, principal: Principal, *, today: date, weeks: int = WEEKS) -> list[Point]:
    """Hazards overdue at each week end: open then, with a deadline before that day (`overdue_clause`
    at the day's end)."""
    days = week_ends(today, weeks)
    counts = _series(session, principal, days, lambda i: overdue_clause(i.c.day, at=i.c.moment))
    return [Point(f"{d.month}月{d.day}日", d, counts[d]) for d in days]


def major_stock(session: Session, principal: Principal, *, today: date, months: int = MONTHS) -> list[Point]:
    """Open major hazards at each month end: opened by then and not closed by then (动态清零)."""
    days = month_ends(today, months)
    counts = _series(session, principal, days, lambda i: and_(open_at_clause(i.c.moment), Hazard.level == "major"))
    return [Point(f"{d.year}年{d.month}月", d, counts[d]) for d in days]


def _grouped(session: Session, principal: Principal, column: Any) -> list[tuple[Any, int]]:
    return [tuple(r) for r in session.execute(
        select(column, func.count(Hazard.id)).where(scope_clause(principal)).group_by(column)).all()]


def counts(session: Session, principal: Principal) -> dict[str, list[tuple[str, int]]]:
    """Counts by state (lifecycle order), level, industry and county, each as (label, n)."""
    by_state = dict(_grouped(session, principal, Hazard.state))
    by_level = dict(_grouped(session, principal, Hazard.level))
    county = func.substr(Hazard.region_code, 1, 6)
    by_county = session.execute(
        select(county, Region.name, func.count(Hazard.id))
        .outerjoin(Region, Region.code == county)
        .where(scope_clause(principal)).group_by(county, Region.name).order_by(county)
    ).all()
    return {
        "state": [(STATE_LABELS[s], by_state.get(s.value, 0)) for s in State],
        "level": [(LEVELS[k], by_level.get(k, 0)) for k in LEVELS] + (
            [("未定级", by_level[None])] if by_level.get(None) else []),
        "industry": sorted(((str(k), n) for k, n in _grouped(session, principal, Hazard.industry)),
                           key=lambda kv: (-kv[1], kv[0])),
        "region": [(name or code, n) for code, name, n in by_county],
    }


def headline(by_state: list[tuple[str, int]], overdue_now: int, major_open: int) -> list[tuple[str, str]]:
    """The few figures an office reads first: open, open major, overdue, closed, and the closure
    rate (closed of all registered: a report not yet registered or dismissed is not counted)."""
    n = dict(zip(State, (count for _, count in by_state), strict=True))
    open_n = sum(count for state, count in n.items() if state not in FINAL_STATES)
    registered = open_n - n[State.REPORTED] + n[State.CLOSED]
    rate = f"{n[State.CLOSED] / registered:.1%}" if registered else "—"
    return [("在办隐患", str(open_n)), ("在办重大隐患", str(major_open)), ("当前逾期", str(overdue_now)),
            ("已销号", str(n[State.CLOSED])), ("销号率", rate)]


def provisional_years(session: Session, calendar: WorkCalendar, *, today: date) -> list[tuple[int, int]]:
    """(year, open hazards with a deadline in it) for each year counted on a provisional calendar
    (no official arrangement loaded): the admin's panel. Deployment-wide, since the calendar is."""
    return [(y.year, y.open_deadlines) for y in calendar_years.provisional_with_deadlines(session, calendar, today)]


def figures(session: Session, principal: Principal, *, now: datetime) -> dict[str, Any]:
    today = local_date(now)
    grouped = counts(session, principal)
    trend = overdue_trend(session, principal, today=today)
    stock = major_stock(session, principal, today=today)
    return {"today": today, **grouped, "overdue_trend": trend, "major_stock": stock,
            "headline": headline(grouped["state"], trend[-1].value, stock[-1].value)}
