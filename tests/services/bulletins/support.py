"""Hazards the ladder has escalated, for the 通报 and accountability tests: driven through the real
actions, then swept on a working day n days after their deadline with the clock set to that day."""

from __future__ import annotations

from datetime import datetime, time, timezone

from sqlalchemy import update

from db.engine import UnitOfWork, transaction
from db.models import Enterprise
from services.kernel.clock import SHANGHAI
from tests.helpers import drive
from tests.services.escalation.sweeping import CAL, deadline_of, run

DEPARTMENT = "离石区应急管理局煤矿安全监管股"


def at(day) -> datetime:
    """10:00 in Shanghai on `day`, in UTC."""
    return datetime.combine(day, time(10), SHANGHAI).astimezone(timezone.utc)


def escalated(factory, world, clock, offset: int, *, level: str = "general", sweep_after: int | None = None) -> int:
    """A hazard in rectification, swept `offset` working days after its deadline (and, when
    `sweep_after` is given, first swept at that offset)."""
    with transaction(factory) as s:
        s.execute(update(Enterprise).values(supervising_department=DEPARTMENT))
    hid = drive(factory, world, clock(), "rectifying", level=level)
    deadline = deadline_of(factory, hid)
    for n in ([sweep_after] if sweep_after is not None else []) + [offset]:
        day = CAL.add_working_days(deadline, n)
        clock.current = at(day)
        run(factory, clock, day)
    return hid


def uow(factory) -> UnitOfWork:
    return UnitOfWork(factory)
