"""The ladder of missing returns around the 2026 中秋 and National Day holidays: September's
reminder on 24 September (25–27 are off), its listing on 8 October (the first working day after
the holiday), its 通报 on 13 October (10 October, a Saturday, is a make-up working day). Each step
fires once per enterprise, however often the sweep runs."""

from __future__ import annotations

from datetime import date, datetime, time, timezone

import pytest
from sqlalchemy import func, select

from db.engine import UnitOfWork, transaction
from db.models import BulletinItem, DutyStep, Enterprise, InboxItem, User
from services.calendar.workdays import default_calendar
from services.inspections import duties, window
from tests.conftest import build_world
from tests.services.inspections.support import chain, file, nil_body

SEPT = datetime(2026, 9, 1, 1, 0, tzinfo=timezone.utc)


def at(day: date) -> datetime:
    return datetime.combine(day, time(2, 0), timezone.utc)  # 10:00 in Shanghai


@pytest.fixture
def sept_world(factory):
    return build_world(factory, now=SEPT)


def test_the_ladder_dates_follow_the_working_days():
    cal = default_calendar()
    assert window.remind_on("2026-09", cal) == date(2026, 9, 24)
    assert window.list_on("2026-09", cal) == date(2026, 10, 8)
    assert window.publicize_on("2026-09", cal) == date(2026, 10, 13)
    assert window.closes_on("2026-09", cal) == date(2026, 10, 10)
    assert window.open_months(date(2026, 10, 10), cal) == ["2026-10", "2026-09"]
    assert window.open_months(date(2026, 10, 12), cal) == ["2026-10"]


def _messages(factory, username: str) -> list[str]:
    with transaction(factory) as s:
        uid = s.scalar(select(User.id).where(User.username == username))
        return list(s.scalars(select(InboxItem.title).where(InboxItem.user_id == uid).order_by(InboxItem.id)))


def test_each_step_fires_once_on_its_working_day(factory, sept_world):
    w = sept_world
    uow, cal = UnitOfWork(factory), default_calendar()

    def sweep(day: date, **kw) -> dict[str, int]:
        return duties.sweep(uow, now=at(day), calendar=cal, **kw)

    zero = {"remind": 0, "list": 0, "publicize": 0, "messages": 0, "bulletin_items": 0}
    file(factory, w, "ent_chem", nil_body("2026-09", checked_from="2026-09-01", checked_to="2026-09-21"),
         at(date(2026, 9, 22)))
    assert sweep(date(2026, 9, 23)) == zero  # before the reminder day
    assert sweep(date(2026, 9, 24), batch_size=1) == {**zero, "remind": 2, "messages": 1}  # coal and gas
    assert sweep(date(2026, 9, 24)) == zero
    assert sweep(date(2026, 9, 30)) == zero
    assert _messages(factory, "ent_coal") == ["请按时报送 2026-09 企业自查报告"]
    assert _messages(factory, "ent_chem") == []  # it had filed
    assert sweep(date(2026, 10, 7)) == zero  # National Day: not listed yet
    listed = sweep(date(2026, 10, 8))
    # coal: 离石's two inspectors and the city's coal inspector; gas: 忻州's inspector
    assert listed == {**zero, "list": 2, "messages": 4}
    assert sweep(date(2026, 10, 8)) == zero
    assert _messages(factory, "coal_only_inspector") == ["离石区金源煤业有限公司 未报送 2026-09 企业自查报告"]
    assert _messages(factory, "xiaoyi_inspector") == []
    file(factory, w, "ent_coal", nil_body("2026-09", checked_from="2026-09-01", checked_to="2026-09-30"),
         at(date(2026, 10, 9)))  # late, inside the grace
    assert sweep(date(2026, 10, 12)) == zero
    assert sweep(date(2026, 10, 13)) == {**zero, "publicize": 1, "bulletin_items": 1}  # gas only
    assert sweep(date(2026, 10, 14)) == zero
    with transaction(factory) as s:
        gas = s.scalar(select(Enterprise.id).where(Enterprise.uscc == w.enterprises["gas"]))
        coal = s.scalar(select(Enterprise.id).where(Enterprise.uscc == w.enterprises["coal"]))
        items = s.execute(select(BulletinItem.key, BulletinItem.kind, BulletinItem.region_code,
                                 BulletinItem.enterprise_id)).all()
        assert items == [(f"missed_return:{gas}:2026-09", "missed_return", "140902", gas)]
        steps = s.execute(select(DutyStep.subject, DutyStep.step).order_by(DutyStep.subject, DutyStep.step)).all()
        assert steps == sorted([(f"return:{coal}:2026-09", "list"), (f"return:{coal}:2026-09", "remind"),
                                (f"return:{gas}:2026-09", "list"), (f"return:{gas}:2026-09", "publicize"),
                                (f"return:{gas}:2026-09", "remind")])
        assert s.scalar(select(func.count()).select_from(InboxItem)) == 5
    assert chain(factory, f"return:{coal}:2026-09") == [("remind", 1), ("list", 2), ("file", 3)]
    assert chain(factory, f"return:{gas}:2026-09") == [("remind", 1), ("list", 2), ("publicize", 3)]


def test_an_enterprise_added_after_the_month_owes_nothing(factory, world):
    # The usual world's enterprises were added on 24 November: nothing is owed for October.
    result = duties.sweep(UnitOfWork(factory), now=at(date(2026, 11, 24)), calendar=default_calendar())
    assert result == {"remind": 0, "list": 0, "publicize": 0, "messages": 0, "bulletin_items": 0}
    result = duties.sweep(UnitOfWork(factory), now=at(date(2026, 11, 25)), calendar=default_calendar())
    assert result["remind"] == 3 and result["messages"] == 2  # ent_coal and ent_chem; gas has no user
