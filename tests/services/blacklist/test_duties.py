"""Half-year inspection reminders of listed enterprises: due from 15 working days before six months
after the last inspection (or the listing), to the inspectors of the region, once per period."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from db.engine import UnitOfWork, transaction
from db.models import InboxItem, User
from services.blacklist import duties
from services.calendar.workdays import WorkCalendar
from services.kernel.clock import SHANGHAI
from tests.conftest import START
from tests.services.blacklist.support import decision, enterprise_id, registered

CAL = WorkCalendar()


def _at(day: date) -> datetime:
    return datetime.combine(day, time(10), tzinfo=SHANGHAI)


def _recipients(factory):
    with transaction(factory) as s:
        return sorted(s.scalars(select(User.username).join(InboxItem, InboxItem.user_id == User.id)))


def test_months_later_and_periods():
    assert duties.months_later(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert duties.months_later(date(2026, 6, 1), 6) == date(2026, 12, 1)
    assert (duties.period_of(date(2026, 6, 30)), duties.period_of(date(2026, 7, 1))) == ("2026-H1", "2026-H2")


def test_reminder_fires_once_from_its_day_to_the_inspectors_in_scope(factory, world):
    coal = enterprise_id(factory, world, "coal")
    decision(factory, coal, "2026-Q2", date(2026, 6, 1), date(2027, 6, 1), START)
    first_day = CAL.add_working_days(date(2026, 12, 1), -15)
    uow = UnitOfWork(factory)
    assert duties.sweep(uow, now=_at(first_day - timedelta(days=1)), calendar=CAL) == {"remind": 0, "messages": 0}
    assert duties.sweep(uow, now=_at(first_day), calendar=CAL) == {"remind": 1, "messages": 3}
    assert duties.sweep(uow, now=_at(first_day + timedelta(days=1)), calendar=CAL) == {"remind": 0, "messages": 0}
    assert _recipients(factory) == ["coal_only_inspector", "inspector", "inspector2"]


def test_a_later_inspection_moves_the_due_date(factory, world):
    coal = enterprise_id(factory, world, "coal")
    decision(factory, coal, "2026-Q2", date(2026, 6, 1), date(2027, 6, 1), START)
    registered(factory, world, START - timedelta(days=4), "顶板管理")  # source inspection, 2026-11-20
    registered(factory, world, START - timedelta(days=1), None, source="self_check")  # not an inspection
    uow = UnitOfWork(factory)
    assert duties.sweep(uow, now=START, calendar=CAL)["remind"] == 0
    with transaction(factory) as s:
        [row] = duties.due(s, today=date(2027, 5, 1), calendar=CAL)
    assert (row["last"], row["due"]) == (date(2026, 11, 20), date(2027, 5, 20))


def test_not_listed_enterprises_get_none(factory, world):
    coal = enterprise_id(factory, world, "coal")
    decision(factory, coal, "2025-Q2", date(2025, 1, 1), date(2026, 1, 1), START)  # ran out
    decision(factory, enterprise_id(factory, world, "chem"), "2026-Q2", None, None, START, kind="not_listed")
    assert duties.sweep(UnitOfWork(factory), now=START, calendar=CAL) == {"remind": 0, "messages": 0}
