"""完成时限 as written → a date (or none) and review flags.

Understood (the plan's year fills in a missing year; spaces and full-width digits are ignored):
- 2021年12月31日 / 6月30日前 / 2022-06-30 → that day;
- 2021年12月底 / 10月底完成 / 2021年3月 / 9月份前 → the last day of that month;
- 年底前 / 年内 / 2022年底前 / 2022年 → 31 December of that year;
- 一季度末 … 四季度末, 上半年 / 下半年 → the quarter's / half-year's last day;
- 全年, 长期坚持, 长期, 常态化, 持续推进 → the plan's year end, flag `year_long` (monthly progress reports);
- relative ones (下发后1个月内, 之日起30日内) → no date, flag `relative_deadline`;
- nothing written → the plan's year end, flag `default_deadline`;
- anything else → no date, flag `unparsed_deadline`.
"""

from __future__ import annotations

import calendar
import re
from datetime import date

from services.tasklists import models as m

_FULLWIDTH = str.maketrans("０１２３４５６７８９－／", "0123456789-/")
_RELATIVE = re.compile(r"(后|起|之日)\D{0,4}\d+\s*(个)?(工作日|日|天|周|星期|个月|月)内?|[发印]布?后|下发后")
_YEAR_LONG = re.compile(r"全年|长期坚持|长期|常态化|持续推进|持续开展|每年")
_QUARTERS = {"一": 3, "1": 3, "二": 6, "2": 6, "三": 9, "3": 9, "四": 12, "4": 12}

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("ymd", re.compile(r"(?:(\d{4})[年.\-/])?(\d{1,2})[月.\-/](\d{1,2})[日号]?")),
    ("quarter", re.compile(r"(?:(\d{4})年)?第?([一二三四1-4])季度")),
    ("half", re.compile(r"(?:(\d{4})年)?([上下])半年")),
    ("ym", re.compile(r"(?:(\d{4})年)?(\d{1,2})月(?:底|末|份|中旬|下旬|上旬|前|内|完成)?")),
    ("yend", re.compile(r"(\d{4})?年(?:底|末|内|前)")),
    ("y", re.compile(r"(\d{4})年")),
]


def normalise(text: str) -> str:
    return re.sub(r"\s+", "", (text or "").translate(_FULLWIDTH))


def _year(raw: str | None, plan_year: int) -> int:
    return int(raw) if raw else plan_year


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _match(kind: str, g: tuple, plan_year: int) -> date:
    if kind == "ymd":
        return date(_year(g[0], plan_year), int(g[1]), int(g[2]))
    if kind == "quarter":
        return _month_end(_year(g[0], plan_year), _QUARTERS[g[1]])
    if kind == "half":
        return _month_end(_year(g[0], plan_year), 6 if g[1] == "上" else 12)
    if kind == "ym":
        return _month_end(_year(g[0], plan_year), int(g[1]))
    return date(_year(g[0], plan_year), 12, 31)


def find_date(text: str, plan_year: int) -> date | None:
    """The first date expression in `text` (earliest position; at one position the most specific)."""
    best: tuple[int, int, date] | None = None
    broken: list[range] = []  # "2月30日": no date, and not "February" either
    for rank, (kind, pattern) in enumerate(_PATTERNS):
        for found in pattern.finditer(text):
            if kind == "ymd" and found.group(1) is None and not re.search(r"[月日号]", found.group(0)):
                continue  # "1.5" is not a date
            try:
                day = _match(kind, found.groups(), plan_year)
            except (ValueError, KeyError):
                broken.append(range(found.start(), found.end()))
                continue
            if not 2000 <= day.year <= 2100:
                continue
            key = (found.start(), rank, day)
            if best is None or key[:2] < best[:2]:
                best = key
            break
    if best is None or any(best[0] in span for span in broken):
        return None
    return best[2]


def looks_like_deadline(text: str) -> bool:
    """A short cell that is only a time limit (used to spot cells that slipped into another column)."""
    t = normalise(text)
    if not t or len(t) > 24:
        return False
    if _YEAR_LONG.fullmatch(t) or _RELATIVE.search(t):
        return True
    return find_date(t, 2000) is not None and not re.search(r"[局委办部队府处]", t)


def parse(text: str, plan_year: int) -> tuple[date | None, list[str]]:
    t = normalise(text)
    year_end = date(plan_year, 12, 31)
    if not t:
        return year_end, [m.DEFAULT_DEADLINE]
    if _RELATIVE.search(t):
        return None, [m.RELATIVE_DEADLINE]
    found = find_date(t, plan_year)
    if found is not None:
        return found, []
    if _YEAR_LONG.search(t):
        return year_end, [m.YEAR_LONG]
    return None, [m.UNPARSED_DEADLINE]
