"""`hazard self-inspections sweep` and `status` as an operator runs them."""

from __future__ import annotations

import json

import pytest

from tests.conftest import START
from tests.services.inspections.support import file, nil_body


def test_sweep_and_status(run, factory, world):
    file(factory, world, "ent_coal", nil_body(), START)
    code, out, _ = run("self-inspections", "sweep", "--as-of", "2026-11-25")  # November's reminder day
    assert code == 0 and "提醒企业 2" in out  # chem and gas; coal has filed
    assert "提醒企业 0" in run("self-inspections", "sweep", "--as-of", "2026-11-25")[1]
    code, out, _ = run("self-inspections", "status", "--month", "2026-11", "--region", "141100")
    assert code == 0 and "应报 2，已报 1，未报 1" in out and "零报告" in out and "未报送" in out
    code, out, _ = run("self-inspections", "status", "--month", "2026-11", "--region", "141100", "--json")
    data = json.loads(out)
    assert (data["total"], data["filed"]) == (2, 1)
    code, _, err = run("self-inspections", "status", "--month", "2026-13", "--region", "141100")
    assert code == 2 and "月份格式" in err
    with pytest.raises(SystemExit):
        run("self-inspections", "sweep", "--as-of", "tomorrow")
