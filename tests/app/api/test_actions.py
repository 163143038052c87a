"""Lifecycle actions over HTTP: 403 role and four-eyes, 409 state and stale versions, ETags and
the `allowed_actions` each caller is offered."""

from __future__ import annotations

import pytest

from services.calendar.workdays import default_calendar
from services.kernel.clock import local_date
from tests.app.api.support import API, act, assert_error, db_state, get
from tests.helpers import body_for, drive, new_hazard, report_body


def _body(world, clock, action: str, level: str = "general", **kw):
    return body_for(action, today=local_date(clock()), level=level, uscc=world.enterprises["coal"], **kw)


CAL = default_calendar()


def _refused(client, world, factory, user, hid, action, body, status, code):
    before = db_state(factory, hid)
    err = assert_error(act(client, world, user, hid, action, body), status, code)
    assert db_state(factory, hid) == before, "a refused action changed the hazard"
    return err


# --- 403: role --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state, level, user, action",
    [
        ("reported", "general", "auditor", "register"),
        ("reported", "general", "admin", "register"),
        ("reported", "general", "auditor", "comment"),
        ("reported", "general", "admin", "order_suspension"),
        ("reported", "general", "city_committee", "register"),
        ("registered", "major", "inspector", "supervise"),
        ("registered", "major", "supervisor", "supervise"),
        ("registered", "general", "ent_coal", "register"),
        ("registered", "general", "city_committee", "file_plan"),
        ("registered", "general", "inspector", "request_acceptance"),
        ("acceptance_requested", "general", "ent_coal", "accept"),
        ("acceptance_requested", "general", "ent_coal", "reject"),
        ("acceptance_requested", "general", "city_committee", "accept"),
        ("accepted", "major", "inspector", "close"),  # the acceptor cannot close
        ("accepted", "major", "supervisor", "close"),
        ("accepted", "major", "auditor", "close"),
    ],
)
def test_role_refusals_are_403(client, world, factory, clock, state, level, user, action):
    hid = drive(factory, world, clock(), state, level=level)
    err = _refused(client, world, factory, user, hid, action, _body(world, clock, action, level, evidence=[1]),
                   403, "role")
    assert action not in get(client, world, user, hid).json()["allowed_actions"]
    assert err["details"] is None


def test_dismisser_must_not_be_the_reporter(client, world, factory, clock):
    resp = client.post(f"{API}/hazards", json=report_body(), headers=world.auth("inspector"))
    assert resp.status_code == 201, resp.text
    hid = resp.json()["id"]
    err = _refused(client, world, factory, "inspector", hid, "dismiss", {"reason": "不构成隐患"}, 403,
                   "four_eyes_reporter")
    assert "四眼" in err["message"]
    resp = act(client, world, "inspector2", hid, "dismiss", {"reason": "经核查不构成隐患"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["state"] == "dismissed"
    # A dismissed hazard takes nothing but comments.
    _refused(client, world, factory, "inspector", hid, "register", _body(world, clock, "register"), 409, "state")
    assert act(client, world, "inspector", hid, "comment", {"text": "已告知报告人"}).status_code == 200


def test_closer_must_not_be_the_acceptor_and_committee_of_listing_level(client, world, factory, clock):
    hid = drive(factory, world, clock(), "accepted", level="major")  # accepted by `inspector`, listed at city level
    close = {"opinion": "同意销号"}
    _refused(client, world, factory, "inspector", hid, "close", close, 403, "role")
    _refused(client, world, factory, "county_committee", hid, "close", close, 403, "listing_level")
    _refused(client, world, factory, "province_committee", hid, "close", close, 403, "listing_level")
    resp = act(client, world, "city_committee2", hid, "close", close)
    assert resp.status_code == 200, resp.text
    assert resp.json()["state"] == "closed" and resp.json()["suspended"] is False


def test_listing_level_must_be_the_committees_own(client, world, factory, clock):
    hid = drive(factory, world, clock(), "registered", level="major")
    body = _body(world, clock, "supervise", "major")  # listing_level "city"
    _refused(client, world, factory, "county_committee", hid, "supervise", body, 403, "listing_authority")
    resp = act(client, world, "county_committee", hid, "supervise", {**body, "listing_level": "county"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["listing"]["level"] == "county"


# --- 409: state and facts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state, level, user, action, code",
    [
        ("registered", "general", "inspector", "register", "state"),
        ("registered", "general", "inspector", "dismiss", "state"),
        ("rectifying", "general", "inspector", "accept", "state"),
        ("acceptance_requested", "major", "city_committee", "close", "state"),
        ("closed", "general", "ent_coal", "file_plan", "state"),
        ("closed", "general", "inspector", "order_suspension", "state"),
        ("registered", "general", "city_committee", "supervise", "major_only"),
        ("registered", "major", "ent_coal", "request_acceptance", "listing_required"),  # 挂牌督办 first
        ("registered", "major", "ent_coal", "file_plan", "listing_required"),
        ("registered", "general", "supervisor", "grant_extension", "no_extension_pending"),
        ("supervised", "major", "inspector", "order_suspension", "already_suspended"),
        ("registered", "general", "inspector", "lift_suspension", "not_suspended"),
    ],
)
def test_wrong_state_or_facts_are_409(client, world, factory, clock, state, level, user, action, code):
    hid = drive(factory, world, clock(), state, level=level)
    err = _refused(client, world, factory, user, hid, action, _body(world, clock, action, level, evidence=[1]),
                   409, code)
    assert action not in get(client, world, user, hid).json()["allowed_actions"]
    assert err["details"] is None


# --- ETag and If-Match ------------------------------------------------------------------------------


def test_get_returns_the_version_as_etag(client, world, factory, clock):
    hid = drive(factory, world, clock(), "rectifying")
    resp = get(client, world, "inspector", hid)
    assert resp.status_code == 200
    assert resp.json()["version"] == 3
    assert resp.headers["etag"] == '"3"'
    after = act(client, world, "ent_coal", hid, "report_progress", {"note": "已完成一半"})
    assert after.status_code == 200
    assert after.headers["etag"] == '"4"' and after.json()["version"] == 4
    assert get(client, world, "inspector", hid).headers["etag"] == '"4"'


def test_stale_if_match_is_409_with_the_current_etag(client, world, factory, clock):
    hid = drive(factory, world, clock(), "registered")
    etag = get(client, world, "inspector", hid).headers["etag"]
    assert etag == '"2"'
    # Someone else acts first.
    assert act(client, world, "inspector2", hid, "comment", {"text": "先到"}).status_code == 200
    before = db_state(factory, hid)
    resp = act(client, world, "inspector", hid, "comment", {"text": "后到"}, If_Match=etag)
    err = assert_error(resp, 409, "stale_version")
    assert err["details"] == {"expected": 2, "current": 3}
    assert resp.headers["etag"] == '"3"'
    assert db_state(factory, hid) == before
    # Retrying with the ETag the 409 handed back succeeds.
    resp = act(client, world, "inspector", hid, "comment", {"text": "后到"}, If_Match=resp.headers["etag"])
    assert resp.status_code == 200, resp.text
    assert resp.headers["etag"] == '"4"'


@pytest.mark.parametrize("header", ['"2"', 'W/"2"', "2", "*", ' "2" '])
def test_matching_if_match_forms_are_accepted(client, world, factory, clock, header):
    hid = drive(factory, world, clock(), "registered")
    resp = act(client, world, "ent_coal", hid, "file_plan", _body(world, clock, "file_plan"), If_Match=header)
    assert resp.status_code == 200, resp.text
    assert resp.json()["state"] == "rectifying"
    assert resp.headers["etag"] == '"3"'


def test_malformed_if_match_is_refused(client, world, factory, clock):
    hid = drive(factory, world, clock(), "registered")
    before = db_state(factory, hid)
    assert_error(act(client, world, "inspector", hid, "comment", {"text": "x"}, If_Match="abc"), 409, "bad_if_match")
    assert db_state(factory, hid) == before


# --- allowed_actions per caller ---------------------------------------------------------------------


def test_allowed_actions_depend_on_the_caller(client, world, factory, clock):
    resp = client.post(f"{API}/hazards", json=report_body(), headers=world.auth("inspector"))
    reported = resp.json()["id"]
    assert resp.json()["allowed_actions"] == ["register", "order_suspension", "comment"]  # the reporter: no dismiss

    def allowed(user, hid):
        resp = get(client, world, user, hid)
        assert resp.status_code == 200, resp.text
        return resp.json()["allowed_actions"]

    assert allowed("inspector2", reported) == ["register", "dismiss", "order_suspension", "comment"]
    assert allowed("supervisor", reported) == ["register", "dismiss", "order_suspension", "comment"]
    assert allowed("city_committee", reported) == ["order_suspension", "comment"]
    assert allowed("auditor", reported) == []
    assert allowed("admin", reported) == []

    general = drive(factory, world, clock(), "registered")
    assert allowed("ent_coal", general) == ["file_plan", "request_extension", "request_acceptance", "comment"]
    assert allowed("city_committee", general) == ["order_suspension", "comment"]  # general: never listed
    assert allowed("auditor", general) == []

    major = drive(factory, world, clock(), "registered", level="major")
    assert allowed("ent_coal", major) == ["request_extension", "comment"]  # not listed yet: no plan
    assert allowed("city_committee", major) == ["supervise", "order_suspension", "comment"]
    assert allowed("county_committee", major) == ["supervise", "order_suspension", "comment"]

    accepted = drive(factory, world, clock(), "accepted", level="major")  # listed at city level, suspended
    assert allowed("city_committee2", accepted) == ["close", "lift_suspension", "comment"]
    assert "close" not in allowed("county_committee", accepted)
    assert "close" not in allowed("inspector", accepted)
    assert allowed("auditor", accepted) == []

    # The list carries the same per-caller actions.
    page = client.get(f"{API}/hazards", headers=world.auth("inspector2")).json()
    by_id = {item["id"]: item for item in page["items"]}
    assert by_id[reported]["allowed_actions"] == allowed("inspector2", reported)


def test_every_offered_action_is_accepted_for_a_valid_body(client, world, factory, clock):
    """What `allowed_actions` offers is really allowed (body rules aside)."""
    hid = drive(factory, world, clock(), "registered")
    for action in get(client, world, "ent_coal", hid).json()["allowed_actions"]:
        if action in ("request_acceptance", "file_plan"):
            continue  # they move the hazard on; covered elsewhere
        resp = act(client, world, "ent_coal", hid, action, _body(world, clock, action))
        assert resp.status_code == 200, (action, resp.text)


# --- extensions -------------------------------------------------------------------------------------


def test_extension_request_grant_and_deny(client, world, factory, clock):
    from datetime import date, timedelta

    hid = drive(factory, world, clock(), "rectifying")  # general, deadline today + 60
    h = get(client, world, "ent_coal", hid).json()
    new_deadline = (date.fromisoformat(h["deadline"]) + timedelta(days=30)).isoformat()
    req = {"reason": "锚索材料供货延迟", "interim_measures": "限制人员通行", "new_deadline": new_deadline}
    earlier = {**req, "new_deadline": h["deadline"]}
    err = assert_error(act(client, world, "ent_coal", hid, "request_extension", earlier), 422, "new_deadline")
    assert err["details"][0]["field"] == "new_deadline"
    resp = act(client, world, "ent_coal", hid, "request_extension", req)
    assert resp.status_code == 200, resp.text
    assert resp.json()["pending_extension"]["new_deadline"] == new_deadline
    _refused(client, world, factory, "ent_coal", hid, "request_extension", req, 409, "extension_pending")
    # General hazard: the supervisor decides, not the committee office.
    _refused(client, world, factory, "city_committee", hid, "grant_extension", {"note": "同意"}, 403,
             "extension_authority")
    _refused(client, world, factory, "inspector", hid, "grant_extension", {"note": "同意"}, 403, "role")
    resp = act(client, world, "supervisor", hid, "grant_extension", {"note": "同意延期"})
    assert resp.status_code == 200, resp.text
    granted = resp.json()
    assert granted["deadline"] == new_deadline and granted["extensions_granted"] == 1
    assert granted["pending_extension"] is None and granted["state"] == "rectifying"
    # A second request, denied: the deadline stays.
    later = {**req, "new_deadline": (date.fromisoformat(new_deadline) + timedelta(days=10)).isoformat()}
    assert act(client, world, "ent_coal", hid, "request_extension", later).status_code == 200
    denied = act(client, world, "supervisor", hid, "deny_extension", {"note": "理由不充分"}).json()
    assert denied["deadline"] == new_deadline and denied["pending_extension"] is None


def test_extension_too_close_to_the_deadline_is_409(client, world, factory, clock):
    from datetime import date, timedelta

    hid = drive(factory, world, clock(), "rectifying")  # deadline today + 60 calendar days
    deadline = date.fromisoformat(get(client, world, "ent_coal", hid).json()["deadline"])
    clock.advance(days=50)  # ten calendar days left: fewer than 15 working days
    req = {"reason": "材料延迟", "interim_measures": "限制通行",
           "new_deadline": (deadline + timedelta(days=30)).isoformat()}
    err = _refused(client, world, factory, "ent_coal", hid, "request_extension", req, 409, "extension_late")
    # The refusal says the limit and the last day it could have been asked for (issue 11).
    last = CAL.latest_start(deadline, 15)
    assert CAL.add_working_days(last, 15) <= deadline < CAL.add_working_days(last + timedelta(days=1), 15)
    assert "15 个工作日" in err["message"]
    assert f"须在{last.year}年{last.month}月{last.day}日前（含当日）提出" in err["message"]


def test_major_extension_is_decided_by_the_listing_committee(client, world, factory, clock):
    from datetime import date, timedelta

    hid = drive(factory, world, clock(), "supervised", level="major")  # listed at city level
    deadline = date.fromisoformat(get(client, world, "ent_coal", hid).json()["deadline"])
    req = {"reason": "材料延迟", "interim_measures": "限制通行",
           "new_deadline": (deadline + timedelta(days=20)).isoformat()}
    assert act(client, world, "ent_coal", hid, "request_extension", req).status_code == 200
    _refused(client, world, factory, "supervisor", hid, "grant_extension", {"note": "同意"}, 403, "extension_authority")
    _refused(client, world, factory, "county_committee", hid, "grant_extension", {"note": "同意"}, 403,
             "extension_authority")
    resp = act(client, world, "city_committee2", hid, "grant_extension", {"note": "同意"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["deadline"] == req["new_deadline"]


def test_role_scope_and_state_come_before_the_body(client, world, factory, clock):
    """The documented order (DESIGN 2.2) holds for bodies FastAPI refuses too (issue 11): an
    enterprise sending `register` is told it may not (403), not that evidence is missing (422)."""
    hid = new_hazard(factory, world, clock(), enterprise_uscc=world.enterprises["coal"])  # ent_coal sees it
    on_spot = {"level": "general", "rectified_on_spot": True}  # invalid: no evidence, no deadline
    _refused(client, world, factory, "ent_coal", hid, "register", on_spot, 403, "role")
    assert_error(act(client, world, "xinzhou_inspector", hid, "register", on_spot), 404)  # scope first
    assert_error(act(client, world, "inspector2", hid, "reject", {"reviewed_on": "not-a-date"}), 409, "state")
    err = assert_error(act(client, world, "inspector2", hid, "register", on_spot), 422)  # allowed: the body
    assert {d["field"] for d in err["details"]} >= {"enterprise_uscc", "deadline"}
