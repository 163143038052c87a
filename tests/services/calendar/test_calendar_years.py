"""Loaded years (`hazard calendar set-year`), without a database: the precedence of a loaded year
over the override file, the package and the provisional fallback, the process's calendar
switching to newly loaded years, and the status lines. Reading what an admin gives is
tests/services/calendar/test_calendar_arrangements.py."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from services.calendar import arrangements, workdays as cal
from services.calendar import years as cy
from services.calendar.workdays import WorkCalendar, YearArrangement, default_calendar, load_overrides


@pytest.fixture(autouse=True)
def _no_loaded_years():
    cy.SYNC.forget()
    yield
    cy.SYNC.forget()


def test_a_loaded_year_wins_over_override_package_and_provisional(tmp_path):
    path = tmp_path / "o.toml"
    path.write_text('[2027]\nholidays = ["2027-01-01"]\n', encoding="utf-8")
    loaded_2026 = YearArrangement(2026, frozenset({date(2026, 3, 3)}), frozenset(), "admin")
    loaded_2027 = YearArrangement(2027, frozenset({date(2027, 3, 3)}), frozenset(), "admin")
    plain = WorkCalendar(load_overrides(path), warn=lambda y: None)
    assert [plain.source(y) for y in (2026, 2027, 2028)] == ["package", "override", "provisional"]
    both = plain.with_loaded([loaded_2026, loaded_2027])
    assert [both.source(y) for y in (2026, 2027, 2028)] == ["admin", "admin", "provisional"]
    # A loaded year replaces the other sources' arrangement of that year entirely.
    assert not both.is_working_day(date(2027, 3, 3)) and both.is_working_day(date(2027, 1, 1))
    # 2026-02-16 was 春节 in the package's arrangement.
    assert both.is_working_day(date(2026, 2, 16)) and not both.is_working_day(date(2026, 3, 3))
    assert plain.source(2026) == "package"  # the original calendar is untouched


def test_the_process_calendar_switches_to_newly_loaded_years_and_back():
    before = default_calendar()
    assert before.resolve(2027).source == "provisional"
    assert default_calendar() is before  # cached: no work per call
    new = arrangements.from_text(2027, "2027-01-01..2027-01-03,2027-02-05..2027-02-12", "2027-02-20")
    assert cal.use_loaded_years([new]) is True
    assert cal.use_loaded_years([new]) is False  # unchanged: the cached calendar stays
    after = default_calendar()
    assert after is not before and after.source(2027) == "admin"
    assert after.add_working_days(date(2027, 2, 1), 5) == date(2027, 2, 16)
    assert before.add_working_days(date(2027, 2, 1), 5) == date(2027, 2, 10)  # a sweep under way keeps its own
    cal.use_loaded_years(())
    assert default_calendar().resolve(2027).source == "provisional"


def test_status_lines_point_at_the_provisional_years_with_deadlines():
    years = [
        cy.YearStatus(2026, "package", 248, 3),
        cy.YearStatus(2027, "provisional", 254, 12),
        cy.YearStatus(2028, "admin", 250, 0, datetime(2027, 11, 30, 2, tzinfo=timezone.utc), "cli:li", "国办发明电"),
        cy.YearStatus(2029, "provisional", 250, 0),
    ]
    lines = cy.status_lines(years)
    assert lines[1] == "2026\t官方安排（软件包）\t248\t3"
    assert lines[2] == "2027\t暂定（按法定节假日推算）\t254\t12"
    assert lines[3] == "2028\t管理员载入（2027年11月30日 由 cli:li 载入，国办发明电）\t250\t0"
    assert any("2027 年尚无正式安排，有 12 条在办隐患" in line for line in lines)
    assert not any("2029 年尚无正式安排" in line for line in lines)
    assert "hazard calendar set-year 2027" in lines[-1]
    assert years[1].as_dict()["provisional"] is True and years[2].as_dict()["loaded_by"] == "cli:li"


def test_the_change_summary_says_deadlines_stay_and_names_those_now_on_a_day_off():
    change = cy.Change(2027, "set", "provisional", "admin", 254, 249,
                       holidays=[date(2027, 1, 1)], workdays=[date(2027, 2, 20)], open_deadlines=5,
                       deadlines_now_off=[("141102-2026-000001", date(2027, 2, 10))])
    text = "\n".join(change.lines())
    assert "放假日 1 天，调休上班日 1 天" in text
    assert "全年工作日由 254 天变为 249 天；此前的来源：暂定（按法定节假日推算）" in text
    assert "5 条在办隐患的整改期限在 2027 年：期限日期保持不变" in text
    assert "141102-2026-000001\t2027年2月10日" in text
    assert change.as_dict()["deadlines_now_off"] == [{"code": "141102-2026-000001", "deadline": "2027-02-10"}]
