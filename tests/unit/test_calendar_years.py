"""Loading a year's arrangement (`hazard calendar set-year`), without a database: reading the
dates an admin types or a file holds, every refusal naming the bad value, the precedence of a
loaded year over the override file, the package and the provisional fallback, the process's
calendar switching to newly loaded years, and the status lines."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from services.calendar import workdays as cal
from services.calendar import years as cy
from services.calendar.workdays import WorkCalendar, YearArrangement, default_calendar, load_overrides
from services.kernel.errors import Invalid

HOLIDAYS_2027 = "2027-01-01..2027-01-03,2027-02-05..2027-02-12，2027-04-05 2027-05-01..2027-05-05"


@pytest.fixture(autouse=True)
def _no_loaded_years():
    cy.SYNC.forget()
    yield
    cy.SYNC.forget()


def problems(exc: pytest.ExceptionInfo[Invalid]) -> list[tuple[str, str]]:
    return [(d["field"], d["message"]) for d in exc.value.details]


def test_dates_and_ranges_are_read_with_any_usual_separator():
    a = cy.from_text(2027, HOLIDAYS_2027, "2027-02-20, 2027-04-25")
    assert a.year == 2027 and a.source == "admin"
    assert len(a.off) == 3 + 8 + 1 + 5
    assert date(2027, 2, 8) in a.off and date(2027, 2, 13) not in a.off
    assert a.on == {date(2027, 2, 20), date(2027, 4, 25)}
    assert not a.is_working_day(date(2027, 2, 8)) and a.is_working_day(date(2027, 2, 20))


def test_every_problem_is_listed_by_field_naming_the_bad_value():
    with pytest.raises(Invalid) as exc:
        cy.from_text(2027, "2027-01-01,2027-02-30,2026-12-31,2027-02-12..2027-02-05,2027-02-06",
                     "2027-02-15,2027-02-06,2028-01-01,2027/02/20")
    got = problems(exc)
    assert ("holidays", "「2027-02-30」不是有效日期（格式 YYYY-MM-DD）") in got
    assert ("holidays", "日期范围「2027-02-12..2027-02-05」的起始日期晚于结束日期") in got
    assert any(f == "holidays" and "「2026-12-31」不在 2027 年内" in m for f, m in got)
    assert any(f == "workdays" and "「2028-01-01」不在 2027 年内" in m for f, m in got)
    assert ("workdays", "「2027-02-15」是星期一，调休上班日只能是星期六或星期日") in got
    assert ("workdays", "「2027-02-06」同时列为放假日和调休上班日") in got
    assert ("workdays", "「2027/02/20」不是有效日期（格式 YYYY-MM-DD）") in got
    assert "未载入" in exc.value.message


@pytest.mark.parametrize("year,holidays,field,fragment", [
    (2027, "", "holidays", "至少列出一天放假日"),
    (2027, " , ", "holidays", "至少列出一天放假日"),
    (1999, "1999-01-01", "year", "年份「1999」无效"),
    (2100, "2100-01-01", "year", "年份「2100」无效"),
    (2027, "2027-01-01..2028-02-01", "holidays", "超过一年"),
    (2027, "2027-01-01..", "holidays", "「」不是有效日期"),
])
def test_refusals(year, holidays, field, fragment):
    with pytest.raises(Invalid) as exc:
        cy.from_text(year, holidays, None)
    assert any(f == field and fragment in m for f, m in problems(exc)), problems(exc)


def test_a_file_in_the_override_files_format_is_read(tmp_path):
    path = tmp_path / "2027.toml"
    path.write_text('[2027]\nnote = "国办发明电〔2026〕x号"\nholidays = ["2027-01-01", 2027-02-05]\n'
                    'workdays = ["2027-02-20"]\n[2028]\nholidays = ["2028-01-01"]\n', encoding="utf-8")
    a, note = cy.from_file(2027, path)
    assert a.off == {date(2027, 1, 1), date(2027, 2, 5)} and a.on == {date(2027, 2, 20)}
    assert note == "国办发明电〔2026〕x号"
    # The same file serves as the deployment's override file.
    assert load_overrides(path)[2027].off == a.off


@pytest.mark.parametrize("text,fragment", [
    (None, "找不到文件"),
    ("[2027\n", "不是有效的 TOML 文件"),
    ('[2028]\nholidays = ["2028-01-01"]\n', "没有 [2027] 表"),
    ('[2027]\nholiday = ["2027-01-01"]\n', "不认识的键：holiday"),
    ('[2027]\nholidays = "2027-01-01"\n', "holidays 应是日期列表"),
    ('[2027]\nholidays = ["2027-01-01..2027-01-03"]\n', "不是有效日期"),  # ranges are for the command line
    ('[2027]\nholidays = ["2027-01-01"]\nworkdays = ["2027-01-04"]\n', "是星期一"),
])
def test_bad_files_are_refused_naming_the_problem(tmp_path, text, fragment):
    path = tmp_path / "a.toml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(Invalid) as exc:
        cy.from_file(2027, path)
    assert any(fragment in m for _, m in problems(exc)), problems(exc)


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
    new = cy.from_text(2027, "2027-01-01..2027-01-03,2027-02-05..2027-02-12", "2027-02-20")
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
