"""The public 举报 form: no token, rate-limited per client, and its status page shows a state only."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from services.kernel.clock import local_date
from tests.app.api.support import API, act, assert_error, events, field_errors, has_chinese

PUBLIC = f"{API}/public/reports"


def _report(**over):
    body = {
        "title": "小区地下车库堆放液化气钢瓶",
        "description": "地下车库内长期堆放二十余个液化气钢瓶，无人看管。",
        "location": "吕梁市离石区滨河北路某小区地下车库",
        "region_code": "141102",
        "industry": "燃气",
        "enterprise_name": "某物业公司",
        "contact": "13800000000",
    }
    body.update(over)
    return body


def test_report_without_token_and_track_it(client, world):
    resp = client.post(PUBLIC, json=_report())
    assert resp.status_code == 201, resp.text
    receipt = resp.json()
    assert set(receipt) == {"tracking_code", "state", "message"}
    code = receipt["tracking_code"]
    assert re.fullmatch(r"[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{12}", code)
    assert receipt["state"] == "reported" and has_chinese(receipt["message"])

    status = client.get(f"{PUBLIC}/{code}")
    assert status.status_code == 200
    assert status.json() == {"tracking_code": code, "state": "reported", "state_label": "待核查"}
    # Lower case and stray spaces are forgiven.
    assert client.get(f"{PUBLIC}/{code.lower()}").json()["state"] == "reported"

    # Inside, it is an ordinary hazard of source public_report, visible to the region's officials.
    items = client.get(f"{API}/hazards", headers=world.auth("inspector")).json()["items"]
    assert len(items) == 1
    hazard = items[0]
    assert hazard["source"] == "public_report" and hazard["state"] == "reported"
    assert "某物业公司" in hazard["description"]
    assert "tracking_code" not in hazard
    assert events(client, world, "inspector", hazard["id"])[0]["actor"]["role"] == "public"

    # The status follows the hazard, and still shows nothing internal.
    today = local_date(client.app.state.ctx.now())
    resp = act(client, world, "inspector", hazard["id"], "dismiss", {"reason": "经现场核查，钢瓶已清运"})
    assert resp.status_code == 200, resp.text
    status = client.get(f"{PUBLIC}/{code}").json()
    assert status == {"tracking_code": code, "state": "dismissed", "state_label": "不予立案"}
    text = client.get(f"{PUBLIC}/{code}").text
    for internal in ("id\"", "title", "description", "enterprise", "events", "reason", "钢瓶", "inspector",
                     "version", "region_code", "contact", "13800000000", str(today.year) + "-"):
        assert internal not in text, internal


def test_public_cannot_see_other_hazards_by_guessing(client, world):
    assert_error(client.get(f"{PUBLIC}/ABCDEFGHJKLM"), 404, "not_found")
    assert_error(client.get(f"{PUBLIC}/1"), 404, "not_found")
    assert_error(client.get(f"{PUBLIC}/%20"), 404, "not_found")


def test_public_status_unknown_code_message_is_chinese(client):
    err = assert_error(client.get(f"{PUBLIC}/NOPE23456789"), 404)
    assert "查询码" in err["message"]


def test_rate_limit_per_client_and_hour(client, app, clock, settings):
    assert settings.public_reports_per_hour == 3
    for i in range(3):
        resp = client.post(PUBLIC, json=_report(title=f"举报 {i}"))
        assert resp.status_code == 201, resp.text
    resp = client.post(PUBLIC, json=_report(title="第四次"))
    err = assert_error(resp, 429, "rate_limited")
    assert "频繁" in err["message"]
    assert err["details"] == {"limit_per_hour": 3}
    # Another address is not affected.
    with TestClient(app, client=("203.0.113.9", 40000)) as other:
        assert other.post(PUBLIC, json=_report(title="另一位群众")).status_code == 201
    clock.advance(minutes=59)
    assert_error(client.post(PUBLIC, json=_report(title="还在一小时内")), 429)
    clock.advance(hours=2)
    resp = client.post(PUBLIC, json=_report(title="两小时后"))
    assert resp.status_code == 201, resp.text


def test_refused_reports_do_not_count(client):
    for _ in range(5):
        field_errors(client.post(PUBLIC, json=_report(industry="矿山")))
        field_errors(client.post(PUBLIC, json=_report(region_code="149999")))
    for i in range(3):
        assert client.post(PUBLIC, json=_report(title=f"举报 {i}")).status_code == 201


@pytest.mark.parametrize(
    "over, field, fragment",
    [
        ({"title": None}, "title", "应为文本"),
        ({"title": "   "}, "title", "不能为空"),
        ({"industry": "矿山"}, "industry", "行业领域应为"),
        ({"region_code": "14110"}, "region_code", "行政区划代码应为"),
        ({"region_code": "149999"}, "region_code", "未知的行政区划代码"),
        ({"source": "inspection"}, "source", "不支持此字段"),  # the public cannot pick a source
        ({"contact": "1" * 101}, "contact", "内容过长"),
        ({"description": "字" * 4001}, "description", "内容过长"),
    ],
)
def test_invalid_public_report_is_422_in_chinese(client, world, over, field, fragment):
    resp = client.post(PUBLIC, json=_report(**over))
    fields = field_errors(resp)
    assert field in fields and fragment in fields[field], fields
    assert client.get(f"{API}/hazards", headers=world.auth("province_committee")).json()["items"] == []


def test_missing_fields_are_listed(client):
    fields = field_errors(client.post(PUBLIC, json={}))
    assert set(fields) == {"title", "description", "location", "region_code", "industry"}
    assert set(fields.values()) == {"此项为必填项"}


def test_a_token_is_not_needed_and_not_used(client, world):
    """An official using the public form is still an anonymous public report."""
    resp = client.post(PUBLIC, json=_report(), headers=world.auth("inspector"))
    assert resp.status_code == 201
    hazard = client.get(f"{API}/hazards", headers=world.auth("inspector")).json()["items"][0]
    trail = events(client, world, "inspector", hazard["id"])
    assert trail[0]["actor"]["role"] == "public" and trail[0]["actor"]["id"] is None


def test_reporter_contact_is_hidden_from_the_reported_enterprise(client, world):
    """举报人信息保密: officials see how to reach the reporter; the enterprise, once the hazard is
    registered against it, sees the trail but not who reported it."""
    assert client.post(PUBLIC, json=_report(industry="煤矿")).status_code == 201
    hid = client.get(f"{API}/hazards", headers=world.auth("inspector")).json()["items"][0]["id"]
    today = local_date(client.app.state.ctx.now())
    body = {"level": "general", "enterprise_uscc": world.enterprises["coal"], "deadline": today.replace(year=today.year + 1).isoformat()}
    assert act(client, world, "inspector", hid, "register", body).status_code == 200
    official = events(client, world, "inspector", hid)
    assert official[0]["payload"]["public"] == {"contact": "13800000000"}
    enterprise = client.get(f"{API}/hazards/{hid}/events", headers=world.auth("ent_coal"))
    assert enterprise.status_code == 200
    assert "13800000000" not in enterprise.text
    assert [e["hash"] for e in enterprise.json()] == [e["hash"] for e in official]
