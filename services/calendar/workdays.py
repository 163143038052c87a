"""Chinese working days: 法定节假日 off, 调休 make-up days on, weekends off otherwise.

Where a year's arrangement comes from, first match wins:
0. an arrangement an admin loaded into the database (`hazard calendar set-year`, table
   `calendar_years`): every process of the deployment sees it (services/calendar/years.py keeps
   this process's copy in step, see `use_loaded_years`);
1. the deployment's override file (`HAZARD_CALENDAR_OVERRIDES`, TOML; the packaged
   `services/data/calendar_overrides.toml` when unset), for a year the State Council has published
   but the package does not know yet, or to correct one;
2. the `chinesecalendar` package (published arrangements, 2004 up to its newest release);
3. provisional: the statutory holidays of 《全国年节及纪念日放假办法》 themselves (元旦, 春节 with
   除夕, 清明, 劳动节, 端午, 中秋, 国庆; lunar dates and 清明 computed), no 调休. Deadlines counted
   on a provisional year can move by a few days once the real arrangement is published, so every
   use of such a year logs a warning (once per year and process) and `provisional_years()` says
   which ones were used.

Every caller goes through `WorkCalendar` (or the module functions, which use the process's calendar
built from settings and the loaded years).

A changed arrangement moves no stored date: deadlines are dates already written into notices. What
counts working days from them (the ladder's steps, 待办's due dates, the extension limit) uses the
calendar of the moment, so it follows the new arrangement from the next computation on.
"""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import chinese_calendar
import structlog
from lunardate import LunarDate

PACKAGED_OVERRIDES = Path(__file__).parents[1] / "data" / "calendar_overrides.toml"


class CalendarError(ValueError):
    """An override file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class YearArrangement:
    """One year's exceptions to the weekend rule: `off` are days off (a weekend day inside a
    holiday may be listed too), `on` are 调休 working days (a weekend day worked)."""

    year: int
    off: frozenset[date]
    on: frozenset[date]
    source: str  # "admin", "override", "package" or "provisional"

    def is_working_day(self, day: date) -> bool:
        if day in self.on:
            return True
        if day in self.off:
            return False
        return day.weekday() < 5

    def working_days(self) -> int:
        """How many working days the year has under this arrangement."""
        first = date(self.year, 1, 1)
        return sum(1 for i in range((date(self.year + 1, 1, 1) - first).days)
                   if self.is_working_day(first + timedelta(days=i)))


# Where a year's arrangement came from, as staff read it.
SOURCE_LABELS = {
    "admin": "管理员载入",
    "override": "覆盖文件",
    "package": "官方安排（软件包）",
    "provisional": "暂定（按法定节假日推算）",
}


# --- the sources ----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _package_years() -> dict[int, YearArrangement]:
    """The package's published arrangements, read once from its tables (its own look-up functions
    re-validate the year range on every call)."""
    off: dict[int, set[date]] = {}
    on: dict[int, set[date]] = {}
    for day in chinese_calendar.holidays:
        off.setdefault(day.year, set()).add(day)
    for day in chinese_calendar.workdays:
        if day.weekday() >= 5:
            on.setdefault(day.year, set()).add(day)
    return {y: YearArrangement(y, frozenset(off[y]), frozenset(on.get(y, ())), "package") for y in off}


def _lunar(year: int, month: int, day: int) -> date:
    return LunarDate(year, month, day).to_solar_date()


def _qingming(year: int) -> date:
    return next(d for d, name in chinese_calendar.get_solar_terms(date(year, 4, 1), date(year, 4, 10))
                if "清明" in name)


def statutory_holidays(year: int) -> frozenset[date]:
    """The days off the 放假办法 itself grants in `year` (the 2025 revision: 元旦 1, 春节 4 with
    除夕, 清明 1, 劳动节 2, 端午 1, 中秋 1, 国庆 3), before any 调休 is arranged."""
    new_year = _lunar(year, 1, 1)
    days = {date(year, 1, 1), new_year - timedelta(days=1), new_year, new_year + timedelta(days=1),
            new_year + timedelta(days=2), _qingming(year), date(year, 5, 1), date(year, 5, 2),
            _lunar(year, 5, 5), _lunar(year, 8, 15), date(year, 10, 1), date(year, 10, 2), date(year, 10, 3)}
    # 除夕 of the lunar year that starts in `year` may fall in January; the one of the next lunar
    # year (late January/February of `year + 1`) is not this year's business.
    return frozenset(d for d in days if d.year == year)


def _provisional(year: int) -> YearArrangement:
    return YearArrangement(year, statutory_holidays(year), frozenset(), "provisional")


def _parse_day(text: object, where: str) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise CalendarError(f"{where}: {text!r} is not a date (YYYY-MM-DD)") from None


def load_overrides(path: Path) -> dict[int, YearArrangement]:
    """Read an override file: a table per year with `holidays` (days off) and `workdays` (调休
    working days), each a list of `YYYY-MM-DD`. A date outside its table's year is refused, as is
    a day listed as both."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalendarError(f"{path}: no such calendar override file") from None
    except tomllib.TOMLDecodeError as exc:
        raise CalendarError(f"{path}: not valid TOML ({exc})") from None
    years: dict[int, YearArrangement] = {}
    for key, table in data.items():
        if not (key.isdigit() and len(key) == 4) or not isinstance(table, dict):
            raise CalendarError(f"{path}: [{key}] should be a year table such as [2027]")
        unknown = set(table) - {"holidays", "workdays", "note"}
        if unknown:
            raise CalendarError(f"{path}: [{key}] has unknown keys {sorted(unknown)}")
        year = int(key)
        off = {_parse_day(d, f"{path} [{key}] holidays") for d in table.get("holidays", [])}
        on = {_parse_day(d, f"{path} [{key}] workdays") for d in table.get("workdays", [])}
        stray = sorted(d for d in off | on if d.year != year)
        if stray:
            raise CalendarError(f"{path}: [{key}] lists dates of another year: {', '.join(map(str, stray))}")
        both = sorted(off & on)
        if both:
            raise CalendarError(f"{path}: [{key}] lists days as both holiday and workday: {', '.join(map(str, both))}")
        years[year] = YearArrangement(year, frozenset(off), frozenset(on), "override")
    return years


# --- the calendar ---------------------------------------------------------------------------------


def _log_provisional(year: int) -> None:
    # A fresh logger each time (this runs once per year and process): a cached one would not see
    # a reconfigured structlog, e.g. tests capturing the warning.
    structlog.get_logger("hazard.calendar").warning(
        "calendar_provisional", year=year,
        detail="no published arrangement for this year: statutory holidays only, no 调休; "
               "load it with `hazard calendar set-year` (or add it to the calendar override file)",
        zh=f"{year} 年的节假日安排尚未公布，暂按法定节假日推算（不含调休）；公布后请用 "
           f"hazard calendar set-year {year} 载入（或写入日历覆盖文件 HAZARD_CALENDAR_OVERRIDES）")



class WorkCalendar:
    """Working-day arithmetic over the sources (loaded years, overrides, package, provisional);
    years are resolved once and cached, so a changed source needs a new calendar."""

    def __init__(self, overrides: Mapping[int, YearArrangement] | None = None, *, use_package: bool = True,
                 warn: Callable[[int], None] | None = None, loaded: Iterable[YearArrangement] = ()):
        self._loaded = {a.year: a for a in loaded}
        self._overrides = dict(overrides or {})
        self._warn = warn or _log_provisional
        self._package = _package_years() if use_package else {}
        self._years: dict[int, YearArrangement] = {}
        self._lock = threading.Lock()
        self._warned: set[int] = set()

    def arrangement(self, year: int) -> YearArrangement:
        found = self._years.get(year)
        if found is not None:
            return found
        with self._lock:
            found = self.resolve(year)
            if found.source == "provisional" and year not in self._warned:
                self._warned.add(year)
                self._warn(year)
            self._years[year] = found
            return found

    def resolve(self, year: int) -> YearArrangement:
        """The year's arrangement by the sources' precedence, without the provisional warning (for
        reports about the calendar itself, such as `hazard calendar status`)."""
        return (self._loaded.get(year) or self._overrides.get(year) or self._package.get(year)
                or _provisional(year))

    def with_loaded(self, loaded: Iterable[YearArrangement]) -> WorkCalendar:
        """The same calendar with other admin-loaded years (what a change would give)."""
        other = WorkCalendar(self._overrides, use_package=False, warn=self._warn, loaded=loaded)
        other._package = self._package
        return other

    def source(self, year: int) -> str:
        return self.arrangement(year).source

    def provisional_years(self) -> list[int]:
        return sorted(y for y, a in self._years.items() if a.source == "provisional")

    def is_working_day(self, day: date) -> bool:
        return self.arrangement(day.year).is_working_day(day)

    def add_working_days(self, start: date, n: int) -> date:
        """The date `n` working days after `start` (before it when `n` is negative); `start`
        itself does not count, and n = 0 gives `start`."""
        step = 1 if n >= 0 else -1
        day, left = start, abs(n)
        while left:
            day += timedelta(days=step)
            if self.is_working_day(day):
                left -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative when `end` is before `start`."""
        if end < start:
            return -self.working_days_between(end, start)
        return sum(1 for i in range(1, (end - start).days + 1) if self.is_working_day(start + timedelta(days=i)))

    def latest_start(self, today: date, n: int) -> date:
        """The latest date d with add_working_days(d, n) <= today: a deadline on or before it has
        reached its step n working days after the deadline. Lets a sweep compare deadlines with a
        date in SQL instead of counting working days row by row."""
        # add_working_days(d, n) is non-decreasing in d, so walk from an estimate.
        d = today - timedelta(days=n * 7 // 5 + 1) if n >= 0 else today + timedelta(days=-n * 7 // 5 + 1)
        while self.add_working_days(d, n) <= today:
            d += timedelta(days=1)
        while self.add_working_days(d, n) > today:
            d -= timedelta(days=1)
        return d

    def days(self, start: date, end: date) -> Iterable[tuple[date, bool]]:
        """(day, working?) for each day in [start, end]."""
        for i in range((end - start).days + 1):
            day = start + timedelta(days=i)
            yield day, self.is_working_day(day)


# The admin-loaded years this process knows (services/calendar/years.py replaces them when the
# table changes), sorted by year: hashable, so it keys the calendar cache below.
_loaded_years: tuple[YearArrangement, ...] = ()


def use_loaded_years(years: Iterable[YearArrangement]) -> bool:
    """Make `years` the admin-loaded arrangements of this process's calendar; True when that
    changed anything. The next `default_calendar()` is a calendar built with them; one already
    handed out (say to a running sweep) keeps the arrangement it started with."""
    global _loaded_years
    new = tuple(sorted(years, key=lambda a: a.year))
    if new == _loaded_years:
        return False
    _loaded_years = new
    return True


@lru_cache(maxsize=8)
def _calendar_for(path: str | None, loaded: tuple[YearArrangement, ...] = ()) -> WorkCalendar:
    return WorkCalendar(load_overrides(Path(path)) if path else load_overrides(PACKAGED_OVERRIDES), loaded=loaded)


def default_calendar() -> WorkCalendar:
    """The process's calendar: the loaded years, then `HAZARD_CALENDAR_OVERRIDES` (or the packaged
    file). Cheap: a cache look-up; nothing here reads the database."""
    from services.kernel.settings import get_settings

    path = get_settings().calendar_overrides
    return _calendar_for(str(path) if path else None, _loaded_years)


def is_working_day(day: date) -> bool:
    return default_calendar().is_working_day(day)


def add_working_days(start: date, n: int) -> date:
    return default_calendar().add_working_days(start, n)


def working_days_between(start: date, end: date) -> int:
    return default_calendar().working_days_between(start, end)
