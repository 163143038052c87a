"""Working-day arithmetic.

This is the weekends-only fallback: it knows no 法定节假日 or 调休 yet. The holiday-aware calendar
(a maintained package plus an override file) replaces the `is_working_day` rule behind these same
functions; every caller goes through them.
"""

from __future__ import annotations

from datetime import date, timedelta


def is_working_day(day: date) -> bool:
    return day.weekday() < 5


def add_working_days(start: date, n: int) -> date:
    """The date `n` working days after `start` (before it when `n` is negative)."""
    step = 1 if n >= 0 else -1
    day, left = start, abs(n)
    while left:
        day += timedelta(days=step)
        if is_working_day(day):
            left -= 1
    return day


def working_days_between(start: date, end: date) -> int:
    """Working days in (start, end]; negative when `end` is before `start`."""
    if end < start:
        return -working_days_between(end, start)
    return sum(1 for i in range(1, (end - start).days + 1) if is_working_day(start + timedelta(days=i)))
