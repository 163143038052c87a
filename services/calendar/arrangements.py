"""Reading and checking a year's working-day arrangement as an admin gives it (`hazard calendar
set-year`): dates typed on the command line (ranges allowed) or a file in the override file's
format. Every problem is reported at once, naming the bad value; nothing here touches the table
(services/calendar/years.py stores what passes).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path

from services.calendar.workdays import YearArrangement
from services.kernel.errors import Invalid

FIRST_YEAR, LAST_YEAR = 2000, 2099  # the lunar tables behind the provisional fallback end in 2099
WEEKDAYS = "一二三四五六日"
_SEPARATORS = re.compile(r"[,，、;；\s]+")


def _day(text: str, field_name: str, problems: list[dict[str, str]]) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        problems.append({"field": field_name, "message": f"「{text}」不是有效日期（格式 YYYY-MM-DD）"})
        return None


def parse_days(text: str, field_name: str, problems: list[dict[str, str]], *, ranges: bool = True) -> set[date]:
    """Dates separated by commas (or 、 or spaces), each `YYYY-MM-DD` or, when `ranges`, a range
    `A..B` (both ends included). Each bad entry adds a problem naming it."""
    days: set[date] = set()
    for item in (t for t in _SEPARATORS.split(text or "") if t):
        if ranges and ".." in item:
            start_text, _, end_text = item.partition("..")
            start, end = _day(start_text, field_name, problems), _day(end_text, field_name, problems)
            if start is None or end is None:
                continue
            if end < start:
                problems.append({"field": field_name, "message": f"日期范围「{item}」的起始日期晚于结束日期"})
                continue
            if (end - start).days > 366:
                problems.append({"field": field_name, "message": f"日期范围「{item}」超过一年"})
                continue
            days.update(start + timedelta(days=i) for i in range((end - start).days + 1))
        else:
            day = _day(item, field_name, problems)
            if day is not None:
                days.add(day)
    return days


def check_year(year: object) -> list[dict[str, str]]:
    if not isinstance(year, int) or not FIRST_YEAR <= year <= LAST_YEAR:
        return [{"field": "year", "message": f"年份「{year}」无效：应为 {FIRST_YEAR} 至 {LAST_YEAR} 之间的四位年份"}]
    return []


def arrangement(year: int, holidays: Iterable[date], workdays: Iterable[date],
                problems: list[dict[str, str]] | None = None) -> YearArrangement:
    """The checked arrangement of `year`, or Invalid listing every problem (with the earlier
    parsing problems, if any): every date in that year, at least one holiday, workdays on
    weekends only, no day both."""
    problems = list(problems or [])
    year_problems = check_year(year)
    off, on = set(holidays), set(workdays)
    if year_problems:
        problems += year_problems
    else:
        for name, days in (("holidays", off), ("workdays", on)):
            for day in sorted(d for d in days if d.year != year):
                problems.append({"field": name, "message": f"「{day}」不在 {year} 年内：每年的安排只列该年的日期"
                                                           f"（跨年的日期属于 {day.year} 年的安排）"})
        for day in sorted(on):
            if day.weekday() < 5:
                problems.append({"field": "workdays", "message": f"「{day}」是星期{WEEKDAYS[day.weekday()]}，"
                                                                 "调休上班日只能是星期六或星期日"})
        for day in sorted(off & on):
            problems.append({"field": "workdays", "message": f"「{day}」同时列为放假日和调休上班日"})
        if not off and not any(p["field"] == "holidays" for p in problems):
            problems.append({"field": "holidays", "message": "至少列出一天放假日（元旦、春节等）"})
    if problems:
        raise Invalid(f"{year} 年的节假日安排有误，未载入。", details=problems)
    return YearArrangement(year, frozenset(off), frozenset(on), "admin")


def from_text(year: int, holidays: str, workdays: str | None) -> YearArrangement:
    """`--holidays 2027-01-01,2027-02-05..2027-02-12 --workdays 2027-02-20` (ranges allowed)."""
    problems: list[dict[str, str]] = []
    off = parse_days(holidays, "holidays", problems)
    on = parse_days(workdays or "", "workdays", problems)
    return arrangement(year, off, on, problems)


def from_file(year: int, path: Path) -> tuple[YearArrangement, str | None]:
    """The `[year]` table of a file in the override file's format (services/data/
    calendar_overrides.toml): `holidays` and `workdays` lists of dates, an optional `note`."""
    def refuse(message: str) -> Invalid:
        return Invalid(f"{year} 年的节假日安排有误，未载入。", details=[{"field": "file", "message": message}])

    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise refuse(f"找不到文件「{path}」") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise refuse(f"无法读取文件「{path}」：{exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise refuse(f"「{path}」不是有效的 TOML 文件：{exc}") from None
    table = data.get(str(year))
    if not isinstance(table, dict):
        raise refuse(f"「{path}」中没有 [{year}] 表")
    unknown = sorted(set(table) - {"holidays", "workdays", "note"})
    if unknown:
        raise refuse(f"[{year}] 中有不认识的键：{'、'.join(unknown)}（只能有 holidays、workdays、note）")
    problems: list[dict[str, str]] = []
    lists: dict[str, set[date]] = {}
    for name in ("holidays", "workdays"):
        values = table.get(name, [])
        if not isinstance(values, list):
            problems.append({"field": name, "message": f"[{year}] {name} 应是日期列表"})
            values = []
        lists[name] = parse_days(",".join(str(v) for v in values), name, problems, ranges=False)
    note = table.get("note")
    return arrangement(year, lists["holidays"], lists["workdays"], problems), (str(note) if note else None)
