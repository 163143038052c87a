"""Reading a year's arrangement as an admin gives it (`hazard calendar set-year`), without a
database: the dates typed on the command line or held by a file, every refusal naming the bad value
(services/calendar/arrangements.py)."""

from __future__ import annotations

from datetime import date

import pytest

from services.calendar import arrangements
from services.calendar.workdays import load_overrides
from services.kernel.errors import Invalid

HOLIDAYS_2027 = "2027-01-01..2027-01-03,2027-02-05..2027-02-12，2027-04-05 2027-05-01..2027-05-05"


def problems(exc: pytest.ExceptionInfo[Invalid]) -> list[tuple[str, str]]:
    return [(d["field"], d["message"]) for d in exc.value.details]


def test_dates_and_ranges_are_read_with_any_usual_separator():
    a = arrangements.from_text(2027, HOLIDAYS_2027, "2027-02-20, 2027-04-25")
    assert a.year == 2027 and a.source == "admin"
    assert len(a.off) == 3 + 8 + 1 + 5
    assert date(2027, 2, 8) in a.off and date(2027, 2, 13) not in a.off
    assert a.on == {date(2027, 2, 20), date(2027, 4, 25)}
    assert not a.is_working_day(date(2027, 2, 8)) and a.is_working_day(date(2027, 2, 20))


def test_every_problem_is_listed_by_field_naming_the_bad_value():
    with pytest.raises(Invalid) as exc:
        arrangements.from_text(2027, "2027-01-01,2027-02-30,2026-12-31,2027-02-12..2027-02-05,2027-02-06",
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
        arrangements.from_text(year, holidays, None)
    assert any(f == field and fragment in m for f, m in problems(exc)), problems(exc)


def test_a_file_in_the_override_files_format_is_read(tmp_path):
    path = tmp_path / "2027.toml"
    path.write_text('[2027]\nnote = "国办发明电〔2026〕x号"\nholidays = ["2027-01-01", 2027-02-05]\n'
                    'workdays = ["2027-02-20"]\n[2028]\nholidays = ["2028-01-01"]\n', encoding="utf-8")
    a, note = arrangements.from_file(2027, path)
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
        arrangements.from_file(2027, path)
    assert any(fragment in m for _, m in problems(exc)), problems(exc)
