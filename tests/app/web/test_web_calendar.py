"""The admin's 看板 names the years whose open deadlines are counted on a provisional calendar and
says how to load the arrangement; the running app picks up an arrangement loaded by another
process within the refresh interval (app/api/calendar_sync.py), without a restart."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from db.engine import make_engine, make_session_factory, transaction
from services.calendar import arrangements, years as calendar_years
from services.calendar.workdays import default_calendar
from tests.conftest import START
from tests.helpers import drive

PANEL = 'id="calendar-provisional"'


class Tick:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def tick(monkeypatch):
    calendar_years.SYNC.forget()
    clock = Tick()
    monkeypatch.setattr(calendar_years.SYNC, "_monotonic", clock)
    yield clock
    calendar_years.SYNC.forget()


def load_2027_elsewhere(db_url: str) -> None:
    """What `hazard calendar set-year` does in its own process: a write on its own engine, no
    refresh of this process's calendar."""
    engine = make_engine(db_url, pool_size=1, max_overflow=0)
    try:
        with transaction(make_session_factory(engine)) as s:
            calendar_years.set_year(
                s, arrangements.from_text(2027, "2027-01-01..2027-01-03,2027-02-05..2027-02-12", "2027-02-20"),
                calendar=default_calendar(), note=None, by="cli:admin", now=START)
    finally:
        engine.dispose()


def test_admin_sees_provisional_years_with_open_deadlines_until_the_year_is_loaded(
        factory, world, browser, tick, db_url):
    drive(factory, world, START, "registered")  # deadline START + 60 days: 23 Jan 2027
    drive(factory, world, START, "rectifying")
    admin, supervisor = browser("admin"), browser("supervisor")

    html = admin.get("/dashboard").text
    assert PANEL in html
    panel = html.split(PANEL)[1].split("</section>")[0]
    assert "2027 年：2 条在办隐患的整改期限在该年" in panel
    assert "hazard calendar set-year 2027 --holidays &lt;放假日&gt; --workdays &lt;调休上班日&gt;" in panel
    assert "已定的整改期限不变" in panel
    assert PANEL not in supervisor.get("/dashboard").text  # the calendar is the admin's to keep

    load_2027_elsewhere(db_url)
    tick.now += calendar_years.REFRESH_SECONDS - 1
    assert PANEL in admin.get("/dashboard").text  # not re-read yet
    tick.now += 1
    assert PANEL not in admin.get("/dashboard").text  # re-read before this request
    assert default_calendar().source(2027) == "admin"
    assert not default_calendar().is_working_day(date(2027, 2, 10))


def test_no_panel_when_no_open_deadline_is_on_a_provisional_year(factory, world, browser, tick, clock):
    drive(factory, world, START - timedelta(days=200), "registered")  # deadline in 2026: published
    assert PANEL not in browser("admin").get("/dashboard").text
