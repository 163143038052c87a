"""Dashboard figures against a known world (both backends): counts, overdue trend, major stock."""

from __future__ import annotations

from datetime import date, timedelta

from db.engine import read_only, transaction
from services.reads import dashboard
from services.engine import transitions
from services.kernel.clock import local_date
from tests.conftest import START
from tests.helpers import add_attachment, body_for, drive, new_hazard

DAY0 = local_date(START)  # 2026-11-24; registered deadlines are DAY0 + 60 = 2027-01-23


def _figures(factory, world, who, now):
    with read_only(factory) as s:
        return dashboard.figures(s, world.p(who), now=now)


def test_counts_by_state_level_industry_region(factory, world):
    drive(factory, world, START, "registered")
    drive(factory, world, START, "registered")
    drive(factory, world, START, "rectifying", level="major")
    drive(factory, world, START, "dismissed")
    new_hazard(factory, world, START, reporter="xiaoyi_inspector", region_code="141181", industry="危险化学品")
    f = _figures(factory, world, "city_supervisor", START)
    by_state = dict(f["state"])
    assert by_state["已登记（限期整改）"] == 2 and by_state["整改中"] == 1 and by_state["不予立案"] == 1
    assert by_state["待核查"] == 1 and sum(by_state.values()) == 5
    assert dict(f["level"]) == {"一般隐患": 2, "重大隐患": 1, "未定级": 2}
    assert f["industry"] == [("煤矿", 4), ("危险化学品", 1)]
    assert f["region"] == [("离石区", 4), ("孝义市", 1)]
    # open: 2 registered + 1 rectifying + 1 reported; none closed of the 3 registered
    assert dict(f["headline"]) == {"在办隐患": "4", "在办重大隐患": "1", "当前逾期": "0", "已销号": "0",
                                   "销号率": "0.0%"}
    narrow = _figures(factory, world, "xiaoyi_inspector", START)
    assert sum(n for _, n in narrow["state"]) == 1 and narrow["region"] == [("孝义市", 1)]


def test_overdue_trend_counts_hazards_open_past_deadline_at_each_week_end(factory, world):
    a = drive(factory, world, START, "registered")
    drive(factory, world, START, "registered")
    # close hazard `a` three weeks after its deadline: overdue at three week ends, not after
    now = START + timedelta(days=60 + 21)
    evidence = [add_attachment(factory, a, now)]
    with transaction(factory) as s:
        body = body_for("request_acceptance", today=local_date(now), level="general", uscc="", evidence=evidence)
        transitions.perform(s, world.p("ent_coal"), a, "request_acceptance", body, now=now)
        transitions.perform(s, world.p("inspector"), a, "accept",
                            body_for("accept", today=local_date(now), level="general", uscc=""), now=now)
    later = START + timedelta(days=60 + 35)
    figures = _figures(factory, world, "supervisor", later)
    points = figures["overdue_trend"]
    headline = dict(figures["headline"])  # `a` closed late; the other one is still open and overdue
    assert (headline["在办隐患"], headline["当前逾期"], headline["已销号"], headline["销号率"]) == ("1", "1", "1", "50.0%")
    assert len(points) == 12 and points[-1].day == local_date(later)
    deadline = DAY0 + timedelta(days=60)
    closed_on = local_date(now)
    for p in points:
        want = (p.day > deadline) + (deadline < p.day < closed_on)
        assert p.value == want, (p.day, p.value, want)
    assert max(p.value for p in points) == 2 and points[-1].value == 1


def test_major_stock_at_month_ends(factory, world):
    drive(factory, world, START, "rectifying", level="major")
    drive(factory, world, START, "registered")  # general: not counted
    drive(factory, world, START + timedelta(days=40), "supervised", level="major")  # January
    points = _figures(factory, world, "city_committee", START + timedelta(days=70))["major_stock"]
    by_day = {p.day: p.value for p in points}
    assert by_day[date(2026, 10, 31)] == 0
    assert by_day[date(2026, 11, 30)] == 1
    assert by_day[date(2026, 12, 31)] == 1
    assert points[-1].day == local_date(START + timedelta(days=70)) and points[-1].value == 2
    assert len(points) == 12 and points[-1].label == "2027年2月"


def test_week_and_month_ends():
    sunday = date(2026, 11, 29)
    assert dashboard.week_ends(sunday)[-1] == sunday and len(dashboard.week_ends(sunday)) == 12
    tuesday = date(2026, 11, 24)
    ends = dashboard.week_ends(tuesday)
    assert ends[-1] == tuesday and ends[-2] == date(2026, 11, 22) and all(d.weekday() == 6 for d in ends[:-1])
    assert dashboard.month_ends(date(2026, 3, 15), 3) == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 15)]
