"""Time: stored in UTC, shown and counted in Asia/Shanghai. The clock is injectable so tests and
the escalation sweep can run "as of" a date without sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def local_date(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def local_text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(SHANGHAI).isoformat(timespec="seconds")


def cn_date(day: date) -> str:
    """2026年12月1日: how dates are written in Chinese text (documents, pages, refusals)."""
    return f"{day.year}年{day.month}月{day.day}日"
