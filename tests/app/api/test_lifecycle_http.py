"""A major hazard from report to 销号 entirely over HTTP, with the audit trail checked as we go."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from services.kernel.clock import local_date
from services.audit.chain import genesis_hash
from tests.app.api.support import API, JPEG, PDF, act, events, get, png_bytes, upload


def _ok(resp, status: int = 200) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert resp.headers["etag"] == f'"{body["version"]}"'
    return body


def test_major_hazard_full_lifecycle_over_http(client, world, clock):
    today = local_date(clock())
    coal = world.enterprises["coal"]

    # 1. report (inspector, 离石区)
    report = {
        "title": "主运输巷道顶板离层", "description": "+450 水平主运输巷 350 米处锚索失效。",
        "location": "井下 +450 水平主运输巷", "region_code": "141102", "industry": "煤矿", "source": "inspection",
        "enterprise_uscc": coal,
    }
    h = _ok(client.post(f"{API}/hazards", json=report, headers=world.auth("inspector")), 201)
    hid = h["id"]
    assert h["state"] == "reported" and h["version"] == 1 and h["code"].startswith("141102-2026-")
    assert h["enterprise"]["uscc"] == coal and h["source_label"] == "监管检查"

    # 2. register as major (another inspector: the reporter could, but let's keep roles apart)
    deadline = today + timedelta(days=90)
    h = _ok(act(client, world, "inspector2", hid, "register",
                {"level": "major", "enterprise_uscc": coal, "deadline": deadline.isoformat(), "category": "顶板管理"},
                If_Match='"1"'))
    assert (h["state"], h["level"], h["level_label"], h["version"]) == ("registered", "major", "重大隐患", 2)
    assert h["deadline"] == deadline.isoformat()

    # 3. 挂牌督办 by the city committee office
    listed_deadline = today + timedelta(days=80)
    h = _ok(act(client, world, "city_committee", hid, "supervise",
                {"listing_level": "city", "deadline": listed_deadline.isoformat(),
                 "plan_due": (today + timedelta(days=10)).isoformat(), "suspend_production": True}))
    assert h["state"] == "supervised" and h["suspended"] is True
    assert h["listing"]["level"] == "city" and h["deadline"] == listed_deadline.isoformat()
    assert "supervise" not in h["allowed_actions"]

    # 4. the enterprise files its plan (五落实)
    plan = {"responsible_person": "张建国（矿长）", "measures": "重新补打锚索，加强顶板离层监测。", "funds_wan": "35.50",
            "time_limit": (today + timedelta(days=60)).isoformat(), "contingency_plan": "顶板事故专项应急预案"}
    h = _ok(act(client, world, "ent_coal", hid, "file_plan", plan))
    assert h["state"] == "rectifying"
    assert h["plan"]["five_items_complete"] is True and h["plan"]["funds_wan"] == "35.50"

    # 5. evidence and the assessment report, uploaded by the enterprise
    files = {"before.png": (png_bytes(2, 2), "image/png"), "after.jpg": (JPEG, "image/jpeg"),
             "assessment.pdf": (PDF, "application/pdf")}
    uploaded = {}
    for name, (data, ctype) in files.items():
        resp = upload(client, world, "ent_coal", hid, data, name, ctype)
        assert resp.status_code == 201, resp.text
        att = resp.json()
        assert att["sha256"] == hashlib.sha256(data).hexdigest() and att["size"] == len(data)
        assert att["content_type"] == ctype
        uploaded[name] = att
    # Each upload is an `attach` event (issue 10): three files, three versions more, and the answer
    # says which version the next If-Match should carry.
    assert [a["hazard_version"] for a in uploaded.values()] == [5, 6, 7]
    assert get(client, world, "ent_coal", hid).json()["version"] == 7

    # 6. request acceptance
    h = _ok(act(client, world, "ent_coal", hid, "request_acceptance",
                {"work_done": "完成全部补强支护", "completed_on": today.isoformat(), "funds_spent_wan": "33.2",
                 "evidence": [uploaded["before.png"]["id"], uploaded["after.jpg"]["id"]], "assessment": "expert",
                 "assessment_report": uploaded["assessment.pdf"]["id"]}))
    assert h["state"] == "acceptance_requested"
    assert "accept" in get(client, world, "inspector", hid).json()["allowed_actions"]

    # 7. accept (an inspector; a major hazard then waits for 销号)
    h = _ok(act(client, world, "inspector", hid, "accept",
                {"reviewed_on": today.isoformat(), "opinion": "整改措施落实到位，同意验收。"}))
    assert h["state"] == "accepted" and h["accepted_at"] is not None and h["closed_at"] is None

    # 8. close (销号/摘牌) by another member of the city committee office
    h = _ok(act(client, world, "city_committee2", hid, "close", {"opinion": "验收合格，同意销号摘牌。"}))
    assert h["state"] == "closed" and h["state_label"] == "已销号"
    assert h["suspended"] is False and h["closed_at"] is not None and h["version"] == 10
    assert get(client, world, "city_committee", hid).json()["allowed_actions"] == ["comment"]

    # The audit trail: every step, by whom, hash-chained.
    trail = events(client, world, "auditor", hid)
    assert [e["action"] for e in trail] == [
        "report", "register", "supervise", "file_plan", "attach", "attach", "attach", "request_acceptance",
        "accept", "close"]
    assert [e["seq"] for e in trail] == list(range(1, 11))
    assert [e["actor"]["name"] for e in trail] == [
        "inspector", "inspector2", "city_committee", "ent_coal", "ent_coal", "ent_coal", "ent_coal", "ent_coal",
        "inspector", "city_committee2"]
    attached = [e["payload"]["body"] for e in trail if e["action"] == "attach"]
    assert [(a["filename"], a["sha256"]) for a in attached] == [(n, u["sha256"]) for n, u in uploaded.items()]
    assert [e["to_state"] for e in trail] == [
        "reported", "registered", "supervised", "rectifying", "rectifying", "rectifying", "rectifying",
        "acceptance_requested", "accepted", "closed"]
    assert [e["from_state"] for e in trail][1:] == [e["to_state"] for e in trail][:-1]
    assert trail[0]["prev_hash"] == genesis_hash(h["code"])
    for prev, ev in zip(trail, trail[1:]):
        assert ev["prev_hash"] == prev["hash"]
    assert len({e["hash"] for e in trail}) == 10
    evidence = trail[7]["payload"]["attachments"]
    assert {a["sha256"] for a in evidence} == {uploaded[n]["sha256"] for n in files}
    assert trail[2]["payload"]["body"]["listing_level"] == "city"
    # The enterprise and the officials see the same trail; the auditor may verify it.
    assert events(client, world, "ent_coal", hid) == trail
    verify = client.get(f"{API}/audit/verify", headers=world.auth("auditor"))
    assert verify.status_code == 200, verify.text
    result = verify.json()
    assert result["ok"] is True and result["first_bad_event"] is None and result["problems"] == []
    assert result["hazards_checked"] == 1 and result["events_checked"] == 10

    # Closed: only comments from now on.
    resp = act(client, world, "city_committee", hid, "order_suspension", {"reason": "复查"})
    assert resp.status_code == 409
    assert _ok(act(client, world, "ent_coal", hid, "comment", {"text": "已存档"}))["state"] == "closed"


def test_general_hazard_closes_on_acceptance_and_rejection_counts(client, world, clock):
    today = local_date(clock())
    resp = client.post(f"{API}/hazards", json={
        "title": "配电室灭火器过期", "description": "配电室 2 具灭火器超过检验期。", "location": "地面配电室",
        "region_code": "141102", "industry": "煤矿", "source": "self_check"}, headers=world.auth("ent_coal"))
    hid = _ok(resp, 201)["id"]
    _ok(act(client, world, "inspector", hid, "register", {
        "level": "general", "enterprise_uscc": world.enterprises["coal"],
        "deadline": (today + timedelta(days=30)).isoformat()}))
    att = upload(client, world, "ent_coal", hid, png_bytes()).json()["id"]
    request = {"work_done": "更换灭火器", "completed_on": today.isoformat(), "funds_spent_wan": "0.1",
               "evidence": [att], "assessment": "self"}
    assert _ok(act(client, world, "ent_coal", hid, "request_acceptance", request))["state"] == "acceptance_requested"
    h = _ok(act(client, world, "supervisor", hid, "reject", {"reviewed_on": today.isoformat(), "reasons": "未张贴检验标签"}))
    assert h["state"] == "rectifying" and h["failed_acceptances"] == 1
    _ok(act(client, world, "ent_coal", hid, "request_acceptance", request))
    h = _ok(act(client, world, "inspector", hid, "accept", {"reviewed_on": today.isoformat(), "opinion": "同意"}))
    assert h["state"] == "closed" and h["closed_at"] is not None
    trail = events(client, world, "inspector", hid)
    assert [e["action"] for e in trail] == [
        "report", "register", "attach", "request_acceptance", "reject", "request_acceptance", "accept"]
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(trail, trail[1:]))
    assert client.get(f"{API}/audit/verify", headers=world.auth("supervisor")).json()["ok"] is True


def test_audit_verify_needs_a_verifier_role(client, world):
    for user in ("ent_coal", "inspector"):
        resp = client.get(f"{API}/audit/verify", headers=world.auth(user))
        assert resp.status_code == 403, resp.text
    for user in ("auditor", "admin", "city_committee", "supervisor"):
        assert client.get(f"{API}/audit/verify", headers=world.auth(user)).status_code == 200
