"""Year arrangements an admin loads (`hazard calendar set-year`, checked by
services/calendar/arrangements.py), kept in `calendar_years` so that every process of the
deployment (API workers, Prefect flows, the CLI) counts the same working days.

What must hold:
- a loaded year wins over the override file, the package and the provisional fallback
  (services/calendar/workdays.py); removing it (`unset`) gives the year back to them;
- loading moves no stored date. Open hazards keep their deadlines (dates already written into
  notices); the ladder's steps, 待办's due dates and the extension limit are counted from those dates
  with the calendar of the moment, so they follow the new working days from the next sweep or
  request on. `set_year` reports the open deadlines of the year, and the ones now on a day off,
  so the change is never silent;
- a process sees a change within `REFRESH_SECONDS` without a restart (`CalendarSync`): the API
  re-reads the table (a handful of rows) at most that often, a sweep re-reads it when it starts.
  Working-day arithmetic itself never queries: it runs on the process's cached calendar.
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import extract, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from db.engine import UnitOfWork
from db.models import CalendarYear, Hazard
from services.calendar import workdays as cal
from services.calendar.arrangements import check_year
from services.calendar.workdays import SOURCE_LABELS, WorkCalendar, YearArrangement
from services.kernel.clock import cn_date, local_date
from services.kernel.errors import Invalid
from services.lifecycle.states import OPEN_STATES

log = structlog.get_logger("hazard.calendar")

REFRESH_SECONDS = 30.0
_OPEN = sorted(s.value for s in OPEN_STATES)


# --- the table ------------------------------------------------------------------------------------


def _dates(text: str) -> frozenset[date]:
    return frozenset(date.fromisoformat(d) for d in json.loads(text))


def load_years(session: Session) -> dict[int, YearArrangement]:
    """Every loaded year. A row that no longer parses (edited by hand) is skipped with a warning:
    its year falls back to the other sources rather than stopping every process."""
    years: dict[int, YearArrangement] = {}
    for row in session.execute(select(CalendarYear)).scalars():
        try:
            years[row.year] = YearArrangement(row.year, _dates(row.holidays), _dates(row.workdays), "admin")
        except (ValueError, TypeError) as exc:
            log.warning("calendar_year_unreadable", year=row.year, error=str(exc),
                        zh=f"数据库中 {row.year} 年的节假日安排无法解析，已忽略；请重新载入")
    return years


def open_deadlines_by_year(session: Session) -> dict[int, int]:
    """Open hazards per year of their current deadline (one grouped query)."""
    year = extract("year", Hazard.deadline)
    rows = session.execute(select(year, func.count(Hazard.id))
                           .where(Hazard.state.in_(_OPEN), Hazard.deadline.is_not(None)).group_by(year)).all()
    return {int(y): n for y, n in rows if y is not None}


def _deadlines_now_off(session: Session, before: YearArrangement, after: YearArrangement) -> list[tuple[str, date]]:
    """Open hazards whose deadline was a working day and is a day off under `after`."""
    first = date(after.year, 1, 1)
    year = (first + timedelta(days=i) for i in range((date(after.year + 1, 1, 1) - first).days))
    newly_off = [d for d in year if before.is_working_day(d) and not after.is_working_day(d)]
    if not newly_off:
        return []
    rows = session.execute(select(Hazard.code, Hazard.deadline)
                           .where(Hazard.state.in_(_OPEN), Hazard.deadline.in_(newly_off))
                           .order_by(Hazard.deadline, Hazard.code)).all()
    return [(code, deadline) for code, deadline in rows]


@dataclass
class Change:
    """What loading (or removing) a year's arrangement did, for the admin who did it."""

    year: int
    action: str  # "set" or "unset"
    source_before: str
    source_after: str
    working_days_before: int
    working_days_after: int
    holidays: list[date] = field(default_factory=list)
    workdays: list[date] = field(default_factory=list)
    open_deadlines: int = 0
    deadlines_now_off: list[tuple[str, date]] = field(default_factory=list)
    statutory_not_listed: list[date] = field(default_factory=list)  # statutory days left working: a typo?

    def as_dict(self) -> dict[str, Any]:
        return {
            "year": self.year, "action": self.action,
            "source_before": self.source_before, "source_after": self.source_after,
            "working_days_before": self.working_days_before, "working_days_after": self.working_days_after,
            "holidays": [d.isoformat() for d in self.holidays], "workdays": [d.isoformat() for d in self.workdays],
            "open_deadlines": self.open_deadlines,
            "deadlines_now_off": [{"code": c, "deadline": d.isoformat()} for c, d in self.deadlines_now_off],
            "statutory_not_listed": [d.isoformat() for d in self.statutory_not_listed],
        }

    def lines(self, shown: int = 20) -> list[str]:
        if self.action == "set":
            head = (f"已载入 {self.year} 年的节假日安排：放假日 {len(self.holidays)} 天，"
                    f"调休上班日 {len(self.workdays)} 天。")
        else:
            head = f"已删除管理员载入的 {self.year} 年安排，改用{SOURCE_LABELS[self.source_after]}。"
        out = [head,
               f"全年工作日由 {self.working_days_before} 天变为 {self.working_days_after} 天；"
               f"此前的来源：{SOURCE_LABELS[self.source_before]}。"]
        if self.statutory_not_listed:
            out.append("注意：以下法定节假日按此安排是工作日，请与通知核对："
                       + "、".join(cn_date(d) for d in self.statutory_not_listed))
        if self.open_deadlines:
            out.append(f"{self.open_deadlines} 条在办隐患的整改期限在 {self.year} 年：期限日期保持不变"
                       "（已写入通知书）；督办步骤（提醒、督办函、约谈等）自下次扫描起按新的工作日计算。")
        if self.deadlines_now_off:
            out.append(f"其中 {len(self.deadlines_now_off)} 条的整改期限现落在休息日，如需调整请按延期程序办理：")
            out += [f"  {code}\t{cn_date(d)}" for code, d in self.deadlines_now_off[:shown]]
            if len(self.deadlines_now_off) > shown:
                out.append(f"  另有 {len(self.deadlines_now_off) - shown} 条（--json 列出全部）")
        out.append(f"各进程在 {int(REFRESH_SECONDS)} 秒内改用新的安排，无需重启。")
        return out


def set_year(session: Session, new: YearArrangement, *, calendar: WorkCalendar, note: str | None, by: str,
             now: datetime) -> Change:
    """Store `new` (replacing a loaded arrangement of that year). `calendar` is the process's
    current one, for the before-and-after counts. Flushes; the caller's transaction commits."""
    before = calendar.resolve(new.year)
    row = session.get(CalendarYear, new.year)
    if row is None:
        row = CalendarYear(year=new.year)
        session.add(row)
    row.holidays = json.dumps(sorted(d.isoformat() for d in new.off))
    row.workdays = json.dumps(sorted(d.isoformat() for d in new.on))
    row.note = (note or "").strip()[:200] or None
    row.loaded_at, row.loaded_by = now, by[:64]
    session.flush()
    return Change(new.year, "set", before.source, "admin", before.working_days(), new.working_days(),
                  holidays=sorted(new.off), workdays=sorted(new.on),
                  open_deadlines=open_deadlines_by_year(session).get(new.year, 0),
                  deadlines_now_off=_deadlines_now_off(session, before, new),
                  statutory_not_listed=sorted(d for d in cal.statutory_holidays(new.year) if new.is_working_day(d)))


def unset_year(session: Session, year: int, *, calendar: WorkCalendar) -> Change:
    """Remove the loaded arrangement of `year` (Invalid when there is none)."""
    problems = check_year(year)
    row = None if problems else session.get(CalendarYear, year)
    if row is None:
        raise Invalid("没有可删除的安排。", details=problems or [
            {"field": "year", "message": f"{year} 年没有管理员载入的节假日安排"}])
    loaded = load_years(session)
    before = loaded.get(year) or calendar.resolve(year)
    session.delete(row)
    session.flush()
    after = calendar.with_loaded(a for y, a in loaded.items() if y != year).resolve(year)
    return Change(year, "unset", before.source, after.source, before.working_days(), after.working_days(),
                  open_deadlines=open_deadlines_by_year(session).get(year, 0),
                  deadlines_now_off=_deadlines_now_off(session, before, after))


# --- status ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class YearStatus:
    year: int
    source: str
    working_days: int
    open_deadlines: int
    loaded_at: datetime | None = None
    loaded_by: str | None = None
    note: str | None = None

    @property
    def label(self) -> str:
        return SOURCE_LABELS[self.source]

    @property
    def provisional(self) -> bool:
        return self.source == "provisional"

    def as_dict(self) -> dict[str, Any]:
        return {"year": self.year, "source": self.source, "label": self.label, "provisional": self.provisional,
                "working_days": self.working_days, "open_deadlines": self.open_deadlines,
                "loaded_at": self.loaded_at.isoformat() if self.loaded_at else None,
                "loaded_by": self.loaded_by, "note": self.note}


def status(session: Session, calendar: WorkCalendar, today: date) -> list[YearStatus]:
    """Each year from last year to the year after the latest open deadline (and every loaded
    year), with where its arrangement comes from and how many open deadlines fall in it."""
    deadlines = open_deadlines_by_year(session)
    rows = {r.year: r for r in session.execute(select(CalendarYear)).scalars()}
    last = max([today.year, *deadlines]) + 1
    years = sorted(set(range(today.year - 1, last + 1)) | set(rows))
    out = []
    for year in years:
        a, row = calendar.resolve(year), rows.get(year)
        admin = row is not None and a.source == "admin"
        out.append(YearStatus(year, a.source, a.working_days(), deadlines.get(year, 0),
                              row.loaded_at if admin else None, row.loaded_by if admin else None,
                              row.note if admin else None))
    return out


def provisional_with_deadlines(session: Session, calendar: WorkCalendar, today: date) -> list[YearStatus]:
    """The years an admin should load: provisional, and holding open deadlines."""
    return [y for y in status(session, calendar, today) if y.provisional and y.open_deadlines]


def status_lines(years: list[YearStatus]) -> list[str]:
    out = ["年份\t来源\t全年工作日\t在办隐患期限"]
    for y in years:
        extra = ""
        if y.loaded_at:
            extra = f"（{cn_date(local_date(y.loaded_at))} 由 {y.loaded_by} 载入{'，' + y.note if y.note else ''}）"
        out.append(f"{y.year}\t{y.label}{extra}\t{y.working_days}\t{y.open_deadlines}")
    pending = [y for y in years if y.provisional and y.open_deadlines]
    if pending:
        for y in pending:
            out.append(f"注意：{y.year} 年尚无正式安排，有 {y.open_deadlines} 条在办隐患的整改期限在该年，"
                       "督办步骤暂按法定节假日推算（不含调休）。")
        out.append(f"国务院办公厅公布安排后，请运行 hazard calendar set-year {pending[0].year} "
                   "--holidays <放假日> --workdays <调休上班日> 载入（或 --file <文件>）。")
    return out


# --- keeping each process's calendar in step ------------------------------------------------------


class CalendarSync:
    """Re-reads `calendar_years` into the process's calendar (`calendar.use_loaded_years`) when
    asked and at most every `max_age` seconds, or at once when asked with another session factory
    (another database). A failed read keeps the years already known (logged) and is retried after
    `max_age`. Thread-safe; a caller that finds a refresh under way goes on with the current
    calendar instead of waiting."""

    def __init__(self, max_age: float = REFRESH_SECONDS, *, monotonic: Callable[[], float] = time.monotonic):
        self.max_age = max_age
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._source: weakref.ref | None = None  # the session factory behind the last UnitOfWork read
        self._checked_at = float("-inf")

    def due(self, uow: UnitOfWork) -> bool:
        same = self._source is not None and self._source() is uow.factory
        return not same or self._monotonic() - self._checked_at >= self.max_age

    def refresh(self, uow: UnitOfWork, *, force: bool = False) -> WorkCalendar:
        """The process's calendar, re-read first when `force` or when due."""
        if force or self.due(uow):
            if self._lock.acquire(blocking=force):
                try:
                    if force or self.due(uow):
                        self._reload(uow)
                finally:
                    self._lock.release()
        return cal.default_calendar()

    def _reload(self, uow: UnitOfWork) -> None:
        try:
            with uow.read() as session:
                years = load_years(session)
        except SQLAlchemyError as exc:
            log.warning("calendar_years_unreadable", error=type(exc).__name__,
                        zh="无法读取数据库中的节假日安排，暂用已知的安排，稍后重试")
        else:
            if cal.use_loaded_years(years.values()):
                log.info("calendar_years_loaded", years=sorted(years))
        self._source = weakref.ref(uow.factory)
        self._checked_at = self._monotonic()

    def forget(self) -> None:
        """Drop the loaded years and the source (tests, or a process switching databases)."""
        with self._lock:
            cal.use_loaded_years(())
            self._source, self._checked_at = None, float("-inf")


SYNC = CalendarSync()


def refresh(uow: UnitOfWork, *, force: bool = False) -> WorkCalendar:
    """The process's calendar after re-reading the loaded years when due (`force`: now, as a sweep
    does when it starts)."""
    return SYNC.refresh(uow, force=force)
