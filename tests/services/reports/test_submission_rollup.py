"""The roll-up: a city's report is the sum of its accepted counties' frozen figures, equal to its live
report while nothing changed since, and unchanged by a later change to a hazard; what is registered
at the city's own code counts live; the province sums its accepted cities; children's states."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select, update

from db.engine import read_only, transaction
from db.models import Enterprise, Hazard
from services.accounts import admin
from services.accounts.auth import principal_of
from services.calendar.workdays import WorkCalendar
from services.kernel.uscc import make as make_uscc
from services.reports import submission as sub
from services.reports.monthly import monthly
from tests.helpers import drive

RULE = sub.DueRule(WorkCalendar())
DEC1 = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
NOV30 = datetime(2026, 11, 30, 1, 0, tzinfo=timezone.utc)  # the deadline day: on time
TODAY = DEC1.date()


def _move(factory, world, hazard_id: int, region: str, enterprise: str) -> None:
    with transaction(factory) as s:
        ent = s.execute(select(Enterprise.id).where(Enterprise.uscc == world.enterprises[enterprise])).scalar_one()
        s.execute(update(Hazard).where(Hazard.id == hazard_id).values(region_code=region, enterprise_id=ent,
                                                                      industry="危险化学品"))


def _act(factory, principal, region, what, now=DEC1, **kw):
    with transaction(factory) as s:
        t = sub.target(s, principal, region, "2026-11", TODAY)
        if what == "submit":
            return sub.submit(s, principal, t, now=now, rule=RULE)
        return sub.decide(s, principal, t, what, now=DEC1, **kw)


def _compute(factory, region, name):
    with read_only(factory) as s:
        return sub.compute(s, region, name, "2026-11", today=TODAY), monthly(s, region, name, "2026-11", today=TODAY)


def test_city_rollup_equals_its_live_report_until_a_hazard_changes(factory, world, clock):
    now = clock()
    for state, level in (("closed", "general"), ("rectifying", "general"), ("supervised", "major"),
                         ("acceptance_requested", "general"), ("registered", "major")):
        drive(factory, world, now, state, level=level)
    for state, level in (("closed", "general"), ("registered", "major"), ("rectifying", "general")):
        _move(factory, world, drive(factory, world, now, state, level=level), "141181", "chem")
    changed = drive(factory, world, now, "rectifying", level="general")
    with transaction(factory) as s:
        user, _ = admin.add_user(s, "xiaoyi_committee", "committee", "141181", now=now, password="correct-horse-1",
                                 display_name="孝义市安委办")
        xiaoyi = principal_of(user)
    _act(factory, world.p("county_committee"), "141102", "submit", now=NOV30)
    _act(factory, xiaoyi, "141181", "submit")  # a day late
    rolled, live = _compute(factory, "141100", "吕梁市")
    assert rolled.month_figures.total.general_found == 0  # nothing accepted yet: nothing rolled up
    _act(factory, world.p("city_committee"), "141102", "accept")
    _act(factory, world.p("city_committee"), "141181", "accept")
    rolled, live = _compute(factory, "141100", "吕梁市")
    assert rolled == live  # every column, every industry, the 动态清零 account, the year to date
    assert {r.industry for r in rolled.month_figures.rows} == {"煤矿", "危险化学品"}
    assert rolled.month_figures.total.major_found == 3 and rolled.month_figures.total.general_found == 6
    assert rolled.month_figures.total.units_due == 2
    with transaction(factory) as s:  # after acceptance a hazard changes: the live report moves, the roll-up not
        s.execute(update(Hazard).where(Hazard.id == changed).values(level="major"))
    rolled_after, live_after = _compute(factory, "141100", "吕梁市")
    assert rolled_after == rolled and live_after != live
    assert live_after.month_figures.total.major_found == 4

    with read_only(factory) as s:
        t = sub.target(s, world.p("city_committee"), "141100", "2026-11", TODAY)
        states = {c.region_code: (c.state, c.late) for c in sub.status(s, t, today=TODAY, rule=RULE).children}
    assert states["141102"] == ("accepted", False) and states["141181"] == ("accepted", True)
    assert states["141182"] == ("not_drafted", True)  # 汾阳市: nothing submitted by 30 November

    # the city submits its roll-up; the province sums its accepted cities, not 忻州's live hazards
    _move(factory, world, drive(factory, world, now, "registered", level="general"), "140902", "gas")
    city = _act(factory, world.p("city_committee"), "141100", "submit")
    _act(factory, world.p("province_committee"), "141100", "accept")
    with read_only(factory) as s:
        assert sub.load_report(city.snapshot) == rolled
        province = sub.compute(s, "140000", "山西省", "2026-11", today=TODAY)
        live_province = monthly(s, "140000", "山西省", "2026-11", today=TODAY)
    assert province.month_figures == rolled.month_figures and province.year_to_date == rolled.year_to_date
    assert live_province.month_figures.total.general_found == rolled.month_figures.total.general_found


def test_what_is_registered_at_the_city_itself_counts_live(factory, world, clock):
    now = clock()
    drive(factory, world, now, "closed", level="general")
    at_city = drive(factory, world, now, "registered", level="major")
    with transaction(factory) as s:
        admin.add_enterprise(s, make_uscc("91141100MA0HRD009"), "吕梁市直属燃气公司", "141100", "燃气", now=now)
        s.execute(update(Hazard).where(Hazard.id == at_city).values(region_code="141100"))
    _act(factory, world.p("county_committee"), "141102", "submit")
    _act(factory, world.p("city_committee"), "141102", "accept")
    rolled, live = _compute(factory, "141100", "吕梁市")  # 孝义市 (an enterprise, nothing accepted) is missing
    assert live.month_figures.total.units_due == 3 and "危险化学品" in [r.industry for r in live.month_figures.rows]
    total = rolled.month_figures.total
    assert (total.general_found, total.major_found, total.units_due) == (1, 1, 2)
    assert [r.industry for r in rolled.month_figures.rows] == ["煤矿", "燃气"]
    assert rolled.month_figures.clearing.stock_end == 1
