"""`hazard reports prepare|status|submit` as an operator runs them."""

from __future__ import annotations

import pytest

from tests.conftest import START
from tests.helpers import drive


def test_prepare_status_submit(run, factory, world):
    drive(factory, world, START, "closed", level="general")
    code, out, _ = run("reports", "prepare", "--now", "2026-11-30T08:30+08:00")
    assert code == 0 and "新建 62" in out and "截止日提醒 28" in out and "用时" in out
    assert "新建 0" in run("reports", "prepare", "--now", "2026-11-30T08:30+08:00")[1]
    code, out, _ = run("reports", "status", "--region", "141100", "--month", "2026-11")
    assert code == 0 and "吕梁市 2026-11：未上报" in out and "141102 离石区\t未上报" in out
    code, out, _ = run("reports", "submit", "--region", "141102", "--month", "2026-11", "--as", "county_committee")
    assert code == 0 and "已上报 离石区 2026-11 的月报，SHA-256 " in out
    assert "141102 离石区\t已上报，待审核" in run("reports", "status", "--region", "141100", "--month", "2026-11")[1]
    code, _, err = run("reports", "submit", "--region", "141102", "--month", "2026-11", "--as", "county_committee")
    assert code == 2 and "不能重复上报" in err
    code, _, err = run("reports", "submit", "--region", "141102", "--month", "2026-11", "--as", "nobody")
    assert code == 2 and "没有这个用户" in err
    code, _, err = run("reports", "status", "--region", "141100", "--month", "2026-13")
    assert code == 2 and "月份格式" in err
    with pytest.raises(SystemExit):
        run("reports", "prepare", "--now", "tomorrow")
