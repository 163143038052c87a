"""The hazard page's forms with hostile values: odd digits and control characters (issue 10 item 2)."""

from __future__ import annotations

from tests.app.api.support import db_state
from tests.helpers import drive
from tests.app.web.conftest import csrf_of


def test_web_forms_with_odd_digits_and_controls(browser, world, factory, clock):
    """The hazard page's forms: a version or evidence id in other digits, a NUL in a text."""
    hid = drive(factory, world, clock(), "rectifying")
    c = browser("ent_coal")
    token = csrf_of(c.get(f"/hazards/{hid}").text)
    before = db_state(factory, hid)
    stale = c.post(f"/hazards/{hid}/actions/report_progress",
                   data={"csrf_token": token, "version": "²", "note": "进展"})
    assert stale.status_code == 409 and "已被他人更新" in stale.text
    odd = c.post(f"/hazards/{hid}/actions/request_acceptance",
                 data={"csrf_token": token, "version": str(before[0]), "work_done": "完成", "completed_on": "2026-11-24",
                       "funds_spent_wan": "1", "evidence": "²", "assessment": "self"})
    assert odd.status_code == 422
    nul = c.post(f"/hazards/{hid}/actions/report_progress",
                 data={"csrf_token": token, "version": str(before[0]), "note": "进\x00展"})
    assert nul.status_code == 422 and "控制字符" in nul.text
    assert db_state(factory, hid) == before
