"""422: invalid bodies answer field-level Chinese messages, and nothing changes."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from services.kernel.clock import SHANGHAI, local_date
from services.kernel.uscc import ALPHABET
from tests.app.api.support import API, act, assert_error, db_state, events, field_errors, get
from tests.helpers import add_attachment, body_for, drive, new_hazard, report_body


def _today(clock):
    return local_date(clock())


def _bad_check_character(code: str) -> str:
    return code[:17] + next(ch for ch in ALPHABET if ch != code[17])


def _invalid(client, world, factory, user, hid, action, body) -> dict[str, str]:
    """POST an invalid body; return {field: message}; the hazard and its trail are unchanged."""
    before = db_state(factory, hid)
    etag = get(client, world, user, hid).headers["etag"]
    resp = act(client, world, user, hid, action, body)
    fields = field_errors(resp)
    assert db_state(factory, hid) == before
    assert get(client, world, user, hid).headers["etag"] == etag
    return fields


def test_register_missing_fields(client, world, factory, clock):
    hid = new_hazard(factory, world, clock())
    fields = _invalid(client, world, factory, "inspector", hid, "register", {})
    assert fields == {"level": "此项为必填项", "enterprise_uscc": "此项为必填项", "deadline": "此项为必填项"}


@pytest.mark.parametrize("bad", ["2027-02-30", "2027/01/31", "next week", "20270131x", ""])
def test_register_bad_date(client, world, factory, clock, bad):
    hid = new_hazard(factory, world, clock())
    body = {"level": "general", "enterprise_uscc": world.enterprises["coal"], "deadline": bad}
    fields = _invalid(client, world, factory, "inspector", hid, "register", body)
    assert list(fields) == ["deadline"]
    assert "YYYY-MM-DD" in fields["deadline"]


def test_register_bad_enum(client, world, factory, clock):
    hid = new_hazard(factory, world, clock())
    body = body_for("register", today=_today(clock), level="huge", uscc=world.enterprises["coal"])
    fields = _invalid(client, world, factory, "inspector", hid, "register", body)
    assert list(fields) == ["level"]
    assert fields["level"].startswith("取值应为以下之一")
    assert "general" in fields["level"] and "major" in fields["level"]


@pytest.mark.parametrize(
    "mangle, expected",
    [
        (_bad_check_character, "统一社会信用代码校验位不正确"),
        (lambda c: c[:17], "统一社会信用代码应为18位"),
        (lambda c: c[:10] + "I" + c[11:], "统一社会信用代码含有不允许的字符：I"),
    ],
    ids=["check-character", "length", "alphabet"],
)
def test_register_bad_uscc(client, world, factory, clock, mangle, expected):
    hid = new_hazard(factory, world, clock())
    body = body_for("register", today=_today(clock), level="general", uscc=mangle(world.enterprises["coal"]))
    fields = _invalid(client, world, factory, "inspector", hid, "register", body)
    assert fields == {"enterprise_uscc": expected}


def test_register_unknown_but_valid_uscc(client, world, factory, clock):
    from services.kernel.uscc import make

    hid = new_hazard(factory, world, clock())
    body = body_for("register", today=_today(clock), level="general", uscc=make("91141102MA0HRD999"))
    fields = _invalid(client, world, factory, "inspector", hid, "register", body)
    assert list(fields) == ["enterprise_uscc"] and "请先登记企业" in fields["enterprise_uscc"]


def test_extra_field_is_refused(client, world, factory, clock):
    hid = new_hazard(factory, world, clock())
    body = {**body_for("register", today=_today(clock), level="general", uscc=world.enterprises["coal"]),
            "state": "closed"}
    assert _invalid(client, world, factory, "inspector", hid, "register", body) == {"state": "不支持此字段"}


@pytest.mark.parametrize("days, ok", [(-1, False), (0, True), (365, True), (366, False), (500, False)])
def test_deadline_within_a_year(client, world, factory, clock, days, ok):
    hid = new_hazard(factory, world, clock())
    deadline = (_today(clock) + timedelta(days=days)).isoformat()
    body = {"level": "general", "enterprise_uscc": world.enterprises["coal"], "deadline": deadline}
    if ok:
        resp = act(client, world, "inspector", hid, "register", body)
        assert resp.status_code == 200, resp.text
        assert resp.json()["deadline"] == deadline
        return
    before = db_state(factory, hid)
    resp = act(client, world, "inspector", hid, "register", body)
    err = assert_error(resp, 422, "deadline_range")
    assert err["details"][0]["field"] == "deadline" and "一年" in err["details"][0]["message"]
    assert db_state(factory, hid) == before


@pytest.mark.parametrize("missing", ["funds_wan", "time_limit", "contingency_plan"])
def test_major_plan_needs_all_five_items(client, world, factory, clock, missing):
    hid = drive(factory, world, clock(), "supervised", level="major")  # listed: its plan is due
    body = body_for("file_plan", today=_today(clock), level="major", uscc=world.enterprises["coal"])
    del body[missing]
    before = db_state(factory, hid)
    err = assert_error(act(client, world, "ent_coal", hid, "file_plan", body), 422, "five_items")
    assert "五落实" in err["details"][0]["message"]
    assert err["details"][0]["field"] == missing
    assert db_state(factory, hid) == before
    # Several missing: every one is named, each on its field (issue 11: not just the first).
    bare = {k: v for k, v in body.items() if k in ("responsible_person", "measures")}
    err = assert_error(act(client, world, "ent_coal", hid, "file_plan", bare), 422, "five_items")
    assert {d["field"]: d["message"][-2:] for d in err["details"]} == {
        "funds_wan": "资金", "time_limit": "时限", "contingency_plan": "预案"}
    assert all("五落实（责任、措施、资金、时限、预案）" in d["message"] for d in err["details"])
    # A general hazard's plan needs only the measures and the responsible person.
    general = drive(factory, world, clock(), "registered")
    resp = act(client, world, "ent_coal", general, "file_plan", {"responsible_person": "张三", "measures": "更换"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["plan"]["five_items_complete"] is False


def test_plan_needs_measures_and_responsible_person(client, world, factory, clock):
    hid = drive(factory, world, clock(), "registered")
    fields = _invalid(client, world, factory, "ent_coal", hid, "file_plan", {"responsible_person": "  "})
    assert fields == {"responsible_person": "不能为空", "measures": "此项为必填项"}


def test_plan_time_limit_after_deadline(client, world, factory, clock):
    hid = drive(factory, world, clock(), "supervised", level="major")  # listed: its plan is due
    deadline = get(client, world, "ent_coal", hid).json()["deadline"]
    body = body_for("file_plan", today=_today(clock), level="major", uscc=world.enterprises["coal"])
    from datetime import date

    body["time_limit"] = (date.fromisoformat(deadline) + timedelta(days=1)).isoformat()
    fields = _invalid(client, world, factory, "ent_coal", hid, "file_plan", body)
    assert fields == {"time_limit": "整改时限不能晚于整改期限"}
    body["time_limit"] = deadline
    assert act(client, world, "ent_coal", hid, "file_plan", body).status_code == 200


def test_plan_funds_must_be_a_non_negative_amount(client, world, factory, clock):
    hid = drive(factory, world, clock(), "supervised", level="major")  # listed: its plan is due
    body = body_for("file_plan", today=_today(clock), level="major", uscc=world.enterprises["coal"])
    assert "funds_wan" in _invalid(client, world, factory, "ent_coal", hid, "file_plan", {**body, "funds_wan": "很多"})
    assert "funds_wan" in _invalid(client, world, factory, "ent_coal", hid, "file_plan", {**body, "funds_wan": "-1"})
    assert "funds_wan" in _invalid(client, world, factory, "ent_coal", hid, "file_plan", {**body, "funds_wan": "1.234"})


def test_evidence_of_another_hazard_is_refused(client, world, factory, clock):
    hid = drive(factory, world, clock(), "rectifying")
    other = drive(factory, world, clock(), "rectifying")
    foreign = add_attachment(factory, other, clock())
    own = add_attachment(factory, hid, clock())
    body = body_for("request_acceptance", today=_today(clock), level="general", uscc=world.enterprises["coal"],
                    evidence=[own, foreign])
    fields = _invalid(client, world, factory, "ent_coal", hid, "request_acceptance", body)
    assert list(fields) == ["evidence"] and str(foreign) in fields["evidence"] and "不属于该隐患" in fields["evidence"]
    # Ids that do not exist at all, or are absurd, read the same way (no 500).
    for bad in ([own, 999999], [2**63], [0]):
        fields = _invalid(client, world, factory, "ent_coal", hid, "request_acceptance", {**body, "evidence": bad})
        assert list(fields) == ["evidence"], bad
    resp = act(client, world, "ent_coal", hid, "request_acceptance", {**body, "evidence": [own]})
    assert resp.status_code == 200, resp.text


def test_acceptance_request_needs_evidence_and_major_assessment_report(client, world, factory, clock):
    hid = drive(factory, world, clock(), "rectifying", level="major")
    ev = add_attachment(factory, hid, clock())
    body = body_for("request_acceptance", today=_today(clock), level="major", uscc=world.enterprises["coal"],
                    evidence=[ev])
    body["evidence"] = []
    fields = _invalid(client, world, factory, "ent_coal", hid, "request_acceptance", body)
    assert fields == {"evidence": "至少 1 项"}
    body["evidence"] = [ev]
    body["assessment_report"] = None
    before = db_state(factory, hid)
    err = assert_error(act(client, world, "ent_coal", hid, "request_acceptance", body), 422, "assessment_report")
    assert err["details"][0]["field"] == "assessment_report"
    assert db_state(factory, hid) == before
    body["completed_on"] = (_today(clock) + timedelta(days=1)).isoformat()
    body["assessment_report"] = ev
    err = assert_error(act(client, world, "ent_coal", hid, "request_acceptance", body), 422, "future_date")
    assert err["details"][0]["field"] == "completed_on"
    body["assessment"] = "friend"
    fields = _invalid(client, world, factory, "ent_coal", hid, "request_acceptance", body)
    assert list(fields) == ["assessment"]


@pytest.mark.parametrize(
    "raw, content_type",
    [(b"{not json", "application/json"), (b"[1, 2]", "application/json"), (b'"text"', "application/json")],
    ids=["broken-json", "array", "string"],
)
def test_body_that_is_not_an_object(client, world, factory, clock, raw, content_type):
    hid = new_hazard(factory, world, clock())
    before = db_state(factory, hid)
    resp = client.post(f"{API}/hazards/{hid}/actions/comment", content=raw,
                       headers={**world.auth("inspector"), "Content-Type": content_type})
    field_errors(resp)
    assert db_state(factory, hid) == before


def test_report_validation(client, world):
    resp = client.post(f"{API}/hazards", json=report_body(industry="矿山", source="rumour", region_code="14",
                                                           title=""),
                       headers=world.auth("inspector"))
    fields = field_errors(resp)
    assert set(fields) == {"industry", "source", "region_code", "title"}
    assert fields["industry"].startswith("行业领域应为")
    assert fields["source"].startswith("隐患来源应为")
    assert fields["region_code"].startswith("行政区划代码应为")
    resp = client.post(f"{API}/hazards", json=report_body(region_code="149999"), headers=world.auth("inspector"))
    assert field_errors(resp) == {"region_code": "未知的行政区划代码"}
    resp = client.post(f"{API}/hazards", json=report_body(enterprise_uscc=_bad_check_character(world.enterprises["coal"])),
                       headers=world.auth("inspector"))
    assert field_errors(resp) == {"enterprise_uscc": "统一社会信用代码校验位不正确"}
    # Nothing was created.
    assert client.get(f"{API}/hazards", headers=world.auth("inspector")).json()["items"] == []


def test_supervise_dates(client, world, factory, clock):
    hid = drive(factory, world, clock(), "registered", level="major")
    body = body_for("supervise", today=_today(clock), level="major", uscc=world.enterprises["coal"])
    bad = {**body, "plan_due": (_today(clock) + timedelta(days=90)).isoformat()}  # after the deadline
    fields = _invalid(client, world, factory, "city_committee", hid, "supervise", bad)
    assert fields == {"plan_due": "整改方案报送期限不能晚于整改期限"}
    fields = _invalid(client, world, factory, "city_committee", hid, "supervise", {**body, "suspend_production": "maybe"})
    assert fields == {"suspend_production": "应为 true 或 false"}


def test_rectified_on_spot(client, world, factory, clock):
    hid = new_hazard(factory, world, clock())
    ev = add_attachment(factory, hid, clock())
    base = body_for("register", today=_today(clock), level="general", uscc=world.enterprises["coal"])
    fields = _invalid(client, world, factory, "inspector", hid, "register", {**base, "rectified_on_spot": True})
    assert fields == {"evidence": "立查立改须附整改证据"}
    fields = _invalid(client, world, factory, "inspector", hid, "register",
                      {**base, "level": "major", "rectified_on_spot": True, "evidence": [ev]})
    assert fields == {"rectified_on_spot": "重大隐患不能立查立改直接销号"}
    resp = act(client, world, "inspector", hid, "register", {**base, "rectified_on_spot": True, "evidence": [ev]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["state"] == "closed" and resp.json()["closed_at"] is not None


@pytest.mark.parametrize("days_back, ok", [(0, True), (1, True), (5 * 366, True), (-1, False), (5 * 366 + 1, False)])
def test_report_with_an_earlier_discovery_date(client, world, factory, clock, days_back, ok):
    """发现日期 may be earlier than the report (a written-up inspection, an imported ledger); the
    report event keeps when it was recorded. A future day or one over five years back is refused."""
    day = _today(clock) - timedelta(days=days_back)
    resp = client.post(f"{API}/hazards", json=report_body(discovered_on=day.isoformat()),
                       headers=world.auth("inspector"))
    if not ok:
        assert field_errors(resp).keys() == {"discovered_on"}
        return
    assert resp.status_code == 201, resp.text
    hazard = resp.json()
    found = datetime.fromisoformat(hazard["discovered_at"])
    assert local_date(found) == day
    if days_back:  # the start of that day in Shanghai, not "now" moved back
        assert found.astimezone(SHANGHAI).time() == time(0)
    assert events(client, world, "inspector", hazard["id"])[0]["occurred_at"] == hazard["created_at"]
