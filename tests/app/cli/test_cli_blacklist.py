"""`hazard blacklist candidates` and `hazard blacklist remind` as an operator runs them."""

from __future__ import annotations

import json
from datetime import timedelta


from services.blacklist.candidates import quarter_of
from services.kernel.clock import local_date, utcnow
from tests.services.blacklist.support import decision, enterprise_id, rejected_twice


def test_candidates_and_remind(run, factory, world):
    now = utcnow()  # the command reads the real clock: the data is dated from it
    rejected_twice(factory, world, now - timedelta(days=1))
    code, out, _ = run("blacklist", "candidates", "--region", "141100", "--quarter", quarter_of(local_date(now)))
    assert code == 0 and "黑名单候选：1 家" in out and "验收不通过2次" in out
    code, out, _ = run("blacklist", "candidates", "--region", "140900", "--json")
    assert code == 0 and json.loads(out) == []
    code, _, err = run("blacklist", "candidates", "--region", "141100", "--quarter", "2026-Q9")
    assert code == 2 and "季度格式" in err
    today = local_date(now)  # chem: listed 200 days ago, never inspected since; its inspector is 孝义's
    decision(factory, enterprise_id(factory, world, "chem"), "2000-Q1", today - timedelta(days=200),
             today + timedelta(days=200), now)
    code, out, _ = run("blacklist", "remind")
    assert code == 0 and "提醒 1 家，消息 1 条" in out
    assert "提醒 0 家" in run("blacklist", "remind")[1]
