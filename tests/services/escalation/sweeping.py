"""What the sweep tests share: one sweep on a day, and a hazard's deadline."""

from __future__ import annotations

from datetime import date

from db.engine import UnitOfWork, read_only
from db.models import Hazard
from services.calendar.workdays import WorkCalendar
from services.escalation.ladder import LadderConfig
from services.escalation.sweep import sweep

CAL = WorkCalendar()
CONFIG = LadderConfig()


def run(factory, clock, as_of: date, **kw):
    """One sweep as of `as_of`, its details kept."""
    return sweep(UnitOfWork(factory), now=clock(), calendar=CAL, config=CONFIG, as_of=as_of, keep_details=True, **kw)


def deadline_of(factory, hid: int) -> date:
    with read_only(factory) as s:
        return s.get(Hazard, hid).deadline
