"""The 黑名单 page: candidates with evidence, the decision form (refused and shown again), the
listed enterprises; the ledger's 黑名单 filter."""

from __future__ import annotations

from datetime import timedelta

from tests.app.web.conftest import csrf_of
from tests.conftest import START
from tests.services.blacklist.support import enterprise_id, rejected_twice


def test_candidates_decision_and_listed(factory, world, browser):
    hazard_id = rejected_twice(factory, world, START - timedelta(days=2))
    coal = enterprise_id(factory, world, "coal")
    county = browser("county_committee")
    page = county.get("/blacklist", params={"quarter": "2026-Q4"})
    assert page.status_code == 200, page.text
    assert f'id="candidate-{coal}"' in page.text and "验收不通过2次" in page.text
    assert page.text.count("验收不通过：") == 2
    token = csrf_of(page.text)
    refused = county.post(f"/blacklist/{coal}/decide", data={"csrf_token": token, "quarter": "2026-Q4",
                                                            "decision": "listed", "reason": "  "})
    assert refused.status_code == 422 and "请填写理由" in refused.text
    assert 'value="listed" required checked' in refused.text
    done = county.post(f"/blacklist/{coal}/decide", data={"csrf_token": token, "quarter": "2026-Q4",
                                                         "decision": "listed", "reason": "验收两次不通过"})
    assert done.status_code == 303 and done.headers["location"] == "/blacklist?quarter=2026-Q4"
    after = county.get("/blacklist", params={"quarter": "2026-Q4"}).text
    assert "已决定：<strong>列入</strong>" in after and "2026-11-24 至 2027-11-24" in after
    assert f'<a href="/enterprises/{coal}">离石区金源煤业有限公司</a>' in after.split("当前在列企业")[1]
    again = county.post(f"/blacklist/{coal}/decide", data={"csrf_token": token, "quarter": "2026-Q4",
                                                          "decision": "not_listed", "reason": "再议"})
    assert again.status_code == 409 and "已作出黑名单决定" in again.text
    ledger = county.get("/ledger", params={"blacklisted": "1"}).text
    assert f'href="/hazards/{hazard_id}"' in ledger


def test_refusals(factory, world, browser):
    rejected_twice(factory, world, START - timedelta(days=2))
    coal = enterprise_id(factory, world, "coal")
    assert browser("inspector").get("/blacklist").status_code == 403
    assert "黑名单" not in browser("inspector").get("/").text.split("</nav>")[0]
    county = browser("county_committee")
    bad = county.get("/blacklist", params={"quarter": "2026-Q9"})
    assert bad.status_code == 400 and "季度格式应为 YYYY-Qn" in bad.text
    token = csrf_of(county.get("/blacklist").text)
    assert county.post(f"/blacklist/{coal}/decide", data={"quarter": "2026-Q4", "decision": "listed",
                                                         "reason": "x"}).status_code in (400, 403)
    chem = enterprise_id(factory, world, "chem")
    assert county.post(f"/blacklist/{chem}/decide", data={"csrf_token": token, "quarter": "2026-Q4",
                                                         "decision": "listed", "reason": "x"}).status_code == 404
    for ident in ("x1", "99999999999999999999"):
        resp = county.post(f"/blacklist/{ident}/decide", data={"csrf_token": token, "quarter": "2026-Q4",
                                                               "decision": "listed", "reason": "x"})
        assert resp.status_code == 422, resp.text
    for data in ({"decision": "maybe", "reason": "x"}, {"decision": "listed", "reason": "x" * 1200},
                 {"decision": "listed", "reason": "坏\x01"}, {"quarter": "2026-Q9", "decision": "listed", "reason": "x"}):
        resp = county.post(f"/blacklist/{coal}/decide", data={"csrf_token": token, "quarter": "2026-Q4", **data})
        assert resp.status_code in (400, 422), (data, resp.status_code)
    assert "已决定" not in county.get("/blacklist").text
    assert county.get("/ledger", params={"blacklisted": "maybe"}).status_code == 400
