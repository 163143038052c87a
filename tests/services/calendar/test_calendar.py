"""Working days against the State Council's published arrangements (国务院办公厅关于部分节假日安排的
通知) for 2024, 2025 and 2026, make-up Saturdays and Sundays included; the override file; and the
provisional fallback for a year nobody has published yet."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from structlog.testing import capture_logs

from services.calendar.workdays import (
    CalendarError, WorkCalendar, load_overrides, statutory_holidays,
)

CAL = WorkCalendar()


def days(start: str, end: str) -> list[date]:
    a, b = date.fromisoformat(start), date.fromisoformat(end)
    return [a + timedelta(days=i) for i in range((b - a).days + 1)]


# (days off, make-up working days) as published.
PUBLISHED = {
    2024: (
        days("2024-01-01", "2024-01-01") + days("2024-02-10", "2024-02-17") + days("2024-04-04", "2024-04-06")
        + days("2024-05-01", "2024-05-05") + days("2024-06-10", "2024-06-10") + days("2024-09-15", "2024-09-17")
        + days("2024-10-01", "2024-10-07"),
        [date(2024, 2, 4), date(2024, 2, 18), date(2024, 4, 7), date(2024, 4, 28), date(2024, 5, 11),
         date(2024, 9, 14), date(2024, 9, 29), date(2024, 10, 12)],
    ),
    2025: (
        days("2025-01-01", "2025-01-01") + days("2025-01-28", "2025-02-04") + days("2025-04-04", "2025-04-06")
        + days("2025-05-01", "2025-05-05") + days("2025-05-31", "2025-06-02") + days("2025-10-01", "2025-10-08"),
        [date(2025, 1, 26), date(2025, 2, 8), date(2025, 4, 27), date(2025, 9, 28), date(2025, 10, 11)],
    ),
    2026: (
        days("2026-01-01", "2026-01-03") + days("2026-02-15", "2026-02-23") + days("2026-04-04", "2026-04-06")
        + days("2026-05-01", "2026-05-05") + days("2026-06-19", "2026-06-21") + days("2026-09-25", "2026-09-27")
        + days("2026-10-01", "2026-10-07"),
        [date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9), date(2026, 9, 20),
         date(2026, 10, 10)],
    ),
}


@pytest.mark.parametrize("year", sorted(PUBLISHED))
def test_every_day_of_the_year_matches_the_published_arrangement(year):
    off, on = PUBLISHED[year]
    assert all(d.weekday() >= 5 for d in on), "make-up days are weekend days"
    for day in days(f"{year}-01-01", f"{year}-12-31"):
        expected = day in on or (day not in off and day.weekday() < 5)
        assert CAL.is_working_day(day) == expected, day
    assert CAL.source(year) == "package"


def test_make_up_saturday_counts_and_holiday_weekday_does_not():
    # 2026-02-14 (Sat) is worked before 春节; 2026-02-16 (Mon) is off.
    assert CAL.is_working_day(date(2026, 2, 14)) and not CAL.is_working_day(date(2026, 2, 16))
    # From Friday 13 Feb 2026: Sat 14 (make-up) is the 1st working day, then 春节 until 23 Feb,
    # Tue 24 Feb is the 2nd.
    assert CAL.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 14)
    assert CAL.add_working_days(date(2026, 2, 13), 2) == date(2026, 2, 24)
    assert CAL.working_days_between(date(2026, 2, 13), date(2026, 2, 24)) == 2


def test_national_day_2025_counts_across_the_make_up_days():
    # Sun 28 Sep 2025 is worked; 1–8 Oct off; Sat 11 Oct worked.
    assert CAL.add_working_days(date(2025, 9, 26), 1) == date(2025, 9, 28)
    assert CAL.add_working_days(date(2025, 9, 30), 1) == date(2025, 10, 9)
    assert CAL.add_working_days(date(2025, 10, 10), 1) == date(2025, 10, 11)


@pytest.mark.parametrize("start", [date(2025, 12, 22), date(2026, 2, 16)], ids=["working", "holiday"])
def test_arithmetic_is_consistent_both_ways(start):
    for n in range(-40, 41):
        end = CAL.add_working_days(start, n)
        if n:
            assert CAL.is_working_day(end)
        # (start, end]: from a day off, counting back does not count the day off itself
        if n >= 0 or CAL.is_working_day(start):
            assert CAL.working_days_between(start, end) == n


def test_latest_start_is_the_last_deadline_for_which_a_step_is_due():
    today = date(2026, 2, 24)
    for n in (-3, 0, 5, 10, 30):
        d = CAL.latest_start(today, n)
        assert CAL.add_working_days(d, n) <= today < CAL.add_working_days(d + timedelta(days=1), n)


def test_statutory_holidays_are_computed_from_lunar_dates():
    # 2026 as published contains every statutory day (春节 from 除夕, 16 Feb 2026).
    off_2026, _ = PUBLISHED[2026]
    assert statutory_holidays(2026) <= set(off_2026)
    assert {date(2026, 2, 16), date(2026, 2, 17), date(2026, 4, 5), date(2026, 6, 19),
            date(2026, 9, 25)} <= statutory_holidays(2026)
    assert len(statutory_holidays(2026)) == 13


def test_a_year_nobody_published_is_provisional_and_warns_once():
    warned: list[int] = []
    cal = WorkCalendar(warn=warned.append)
    # 2031: 春节 is 23 Jan (除夕 22 Jan), 端午 24 Jun, 中秋 1 Oct (inside 国庆).
    assert not cal.is_working_day(date(2031, 1, 22))
    assert not cal.is_working_day(date(2031, 1, 24))
    assert not cal.is_working_day(date(2031, 6, 24))
    assert cal.is_working_day(date(2031, 10, 6))  # Monday, no 调休 known
    cal.add_working_days(date(2031, 3, 2), 10)
    assert warned == [2031]
    assert cal.source(2031) == "provisional" and cal.provisional_years() == [2031]


def test_the_provisional_warning_is_logged_as_a_warning():
    with capture_logs() as logs:
        from services.calendar.workdays import _log_provisional

        _log_provisional(2031)
    assert logs == [{"event": "calendar_provisional", "year": 2031, "log_level": "warning",
                     "detail": logs[0]["detail"], "zh": logs[0]["zh"]}]
    assert "2031 年的节假日安排尚未公布" in logs[0]["zh"]


def test_override_file_wins_over_package_and_fallback(tmp_path):
    path = tmp_path / "overrides.toml"
    path.write_text(
        '[2031]\nnote = "国办发明电〔2030〕x号"\nholidays = ["2031-01-01", "2031-01-22", "2031-01-23", "2031-01-24",'
        ' "2031-01-25", "2031-01-26", "2031-01-27", "2031-01-28"]\nworkdays = ["2031-01-19", "2031-02-08"]\n'
        '[2026]\nholidays = ["2026-12-31"]\n', encoding="utf-8")
    cal = WorkCalendar(load_overrides(path))
    assert cal.source(2031) == "override" and cal.provisional_years() == []
    assert cal.is_working_day(date(2031, 1, 19))  # a Sunday worked
    assert not cal.is_working_day(date(2031, 1, 27))  # a Monday off
    assert not cal.is_working_day(date(2026, 12, 31))  # the override replaces the package's 2026
    assert cal.source(2026) == "override"


@pytest.mark.parametrize("text,message", [
    ('[2031]\nholidays = ["2031-13-01"]\n', "not a date"),
    ('[2031]\nholidays = ["2032-01-01"]\n', "another year"),
    ('[2031]\nholidays = ["2031-01-04"]\nworkdays = ["2031-01-04"]\n', "both"),
    ('[abc]\nholidays = []\n', "year table"),
    ('[2031]\nholiday = []\n', "unknown keys"),
    ('[2031\n', "not valid TOML"),
])
def test_bad_override_files_are_refused_with_the_reason(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CalendarError, match=message):
        load_overrides(path)


def test_the_packaged_override_file_loads():
    from services.calendar.workdays import PACKAGED_OVERRIDES

    assert isinstance(load_overrides(PACKAGED_OVERRIDES), dict)
