"""The 通报 list's overdue hazards (services/bulletins/collect.py): one entry per publicized hazard
and month, on the list of the office that publicizes, whether `publicize` fired or was skipped by a
catch-up; repeated sweeps propose nothing twice."""

from __future__ import annotations

from sqlalchemy import select

from db.engine import read_only
from db.models import BulletinItem, Hazard
from services.bulletins import collect
from tests.services.bulletins.support import DEPARTMENT, escalated, uow
from tests.services.escalation.sweeping import deadline_of


def items(factory) -> list:
    with read_only(factory) as s:
        return s.execute(select(BulletinItem.__table__).order_by(BulletinItem.id)).all()


def test_a_publicized_hazard_goes_on_its_county_list_once(factory, world, clock):
    hid = escalated(factory, world, clock, 20, sweep_after=10)  # summon first, then publicize on its day
    month = f"{clock():%Y-%m}"
    assert collect.sweep(uow(factory), now=clock()) == {"events": 1, "proposed": 1, "existing": 0}
    [item] = items(factory)
    with read_only(factory) as s:
        code = s.get(Hazard, hid).code
    deadline = deadline_of(factory, hid)
    assert (item.key, item.region_code, item.month, item.kind, item.hazard_id, item.status) == (
        f"overdue_hazard:{hid}:{month}", "141102", month, "overdue_hazard", hid, "proposed")
    assert code in item.reason and "逾期20个工作日" in item.reason
    assert f"{deadline.year}年{deadline.month}月{deadline.day}日" in item.reason
    assert "离石区金源煤业有限公司" in item.reason and DEPARTMENT in item.reason
    assert collect.sweep(uow(factory), now=clock()) == {"events": 0, "proposed": 0, "existing": 0}
    assert len(items(factory)) == 1


def test_a_publicize_skipped_by_a_referral_still_names_the_hazard(factory, world, clock):
    hid = escalated(factory, world, clock, 60)  # refer fires, publicize among the skipped
    assert collect.sweep(uow(factory), now=clock())["proposed"] == 1
    [item] = items(factory)
    assert item.hazard_id == hid and "逾期60个工作日" in item.reason


def test_a_listed_major_hazard_goes_on_the_listing_level_office_list(factory, world, clock):
    escalated(factory, world, clock, 20, level="major")  # listed at city level by the helpers
    collect.sweep(uow(factory), now=clock())
    [item] = items(factory)
    assert item.region_code == "141100"


def test_steps_that_are_not_publicize_put_nothing_on_the_list(factory, world, clock):
    escalated(factory, world, clock, 10)  # summon, with remind/overdue/urge skipped
    assert collect.sweep(uow(factory), now=clock()) == {"events": 0, "proposed": 0, "existing": 0}
    assert items(factory) == []


def test_an_entry_proposed_already_by_key_is_not_doubled(factory, world, clock):
    from db.engine import transaction
    from services.bulletins.items import propose
    hid = escalated(factory, world, clock, 20)
    month = f"{clock():%Y-%m}"
    with transaction(factory) as s:
        assert propose(s, key=f"overdue_hazard:{hid}:{month}", region_code="141102", month=month,
                       kind="overdue_hazard", reason="先行提出", now=clock() - __import__("datetime").timedelta(days=1),
                       hazard_id=hid)
    assert collect.sweep(uow(factory), now=clock()) == {"events": 1, "proposed": 0, "existing": 1}
    assert [i.reason for i in items(factory)] == ["先行提出"]
