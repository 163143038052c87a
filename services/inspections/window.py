"""When a month's return may be filed, and the dates of its escalation ladder, in working days.

The filing rule: an enterprise files the return of the current month (Asia/Shanghai), and may
still file or amend the previous month's during the next month's first `grace` working days
(default 3), which is when the month's figures are checked and reported upward; after that the
month is closed and its return can no longer change. Filing again inside the window amends the
return (version + 1).

The ladder of a missing return (defaults, `ReturnRules`):
- `remind`: `remind` working days before the month's last working day (default 3), the
  enterprise's users are reminded;
- `list`: the first working day after the month, the enterprise is on its inspectors' list of
  missing returns and they are told;
- `publicize`: `publicize` working days after the month's end (default 5), the enterprise goes on
  its county's 通报 list (services/bulletins/items.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from services.calendar.workdays import WorkCalendar


@dataclass(frozen=True)
class ReturnRules:
    remind: int = 3
    grace: int = 3
    publicize: int = 5


RULES = ReturnRules()


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def first_day(month: str) -> date:
    year, mon = (int(p) for p in month.split("-"))
    return date(year, mon, 1)


def last_day(month: str) -> date:
    first = first_day(month)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return following - timedelta(days=1)


def previous_month(month: str) -> str:
    return month_of(first_day(month) - timedelta(days=1))


def last_working_day(month: str, calendar: WorkCalendar) -> date:
    day = last_day(month)
    while not calendar.is_working_day(day):
        day -= timedelta(days=1)
    return day


def remind_on(month: str, calendar: WorkCalendar, rules: ReturnRules = RULES) -> date:
    return calendar.add_working_days(last_working_day(month, calendar), -rules.remind)


def list_on(month: str, calendar: WorkCalendar) -> date:
    return calendar.add_working_days(last_day(month), 1)


def publicize_on(month: str, calendar: WorkCalendar, rules: ReturnRules = RULES) -> date:
    return calendar.add_working_days(last_day(month), rules.publicize)


def closes_on(month: str, calendar: WorkCalendar, rules: ReturnRules = RULES) -> date:
    """The last day the month's return may be filed or amended."""
    return calendar.add_working_days(last_day(month), rules.grace)


def open_months(today: date, calendar: WorkCalendar, rules: ReturnRules = RULES) -> list[str]:
    """The months whose return may be filed today: this one, and the previous one in its grace."""
    current = month_of(today)
    previous = previous_month(current)
    return [current, previous] if today <= closes_on(previous, calendar, rules) else [current]


def is_open(month: str, today: date, calendar: WorkCalendar, rules: ReturnRules = RULES) -> bool:
    return month in open_months(today, calendar, rules)
