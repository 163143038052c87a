"""Authentication (401) and scope (404 that does not leak) over HTTP, on both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from db.engine import transaction
from db.models import ApiToken, User
from services.accounts.auth import token_digest
from services.kernel.clock import local_date
from services.lifecycle.table import LIFECYCLE
from tests.app.api.support import API, MISSING_ID, act, assert_error, png_bytes, upload
from tests.helpers import body_for, drive, new_hazard

ACTIONS = [name for name, spec in LIFECYCLE.items() if name != "report" and spec.lifecycle]


# --- 401 ------------------------------------------------------------------------------------------


def _unauthorized(resp) -> dict:
    err = assert_error(resp, 401, "unauthorized")
    assert resp.headers.get("www-authenticate") == "Bearer"
    return err


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer hz_not-a-real-token"},
        {"Authorization": "hz_no-scheme-at-all"},
    ],
    ids=["none", "empty-bearer", "basic", "unknown-token", "no-scheme"],
)
def test_missing_or_bad_token_is_401_everywhere(client, world, factory, clock, headers):
    hid = new_hazard(factory, world, clock())
    for method, path in [
        ("GET", f"{API}/hazards"),
        ("GET", f"{API}/hazards/{hid}"),
        ("GET", f"{API}/hazards/{hid}/events"),
        ("POST", f"{API}/hazards/{hid}/actions/comment"),
        ("POST", f"{API}/hazards"),
        ("GET", f"{API}/audit/verify"),
    ]:
        resp = client.request(method, path, headers=headers, json={"text": "x"} if method == "POST" else None)
        _unauthorized(resp)


def test_401_comes_before_body_validation(client, world, factory, clock):
    hid = new_hazard(factory, world, clock())
    _unauthorized(client.post(f"{API}/hazards/{hid}/actions/register", json={"level": "nonsense"}))
    _unauthorized(client.post(f"{API}/hazards/{hid}/attachments", files={"file": ("a.png", png_bytes(), "image/png")}))


def test_revoked_token_is_401(client, world, factory, clock):
    hid = new_hazard(factory, world, clock())
    assert client.get(f"{API}/hazards/{hid}", headers=world.auth("inspector")).status_code == 200
    with transaction(factory) as s:
        s.execute(
            update(ApiToken).where(ApiToken.token_hash == token_digest(world.tokens["inspector"]))
            .values(revoked_at=clock())
        )
    err = _unauthorized(client.get(f"{API}/hazards/{hid}", headers=world.auth("inspector")))
    assert "失效" in err["message"]
    # Other users' tokens are untouched.
    assert client.get(f"{API}/hazards/{hid}", headers=world.auth("inspector2")).status_code == 200


def test_expired_token_is_401_once_the_clock_passes(client, world, factory, clock):
    with transaction(factory) as s:
        s.execute(
            update(ApiToken).where(ApiToken.token_hash == token_digest(world.tokens["inspector"]))
            .values(expires_at=clock() + timedelta(hours=1))
        )
    assert client.get(f"{API}/hazards", headers=world.auth("inspector")).status_code == 200
    clock.advance(hours=2)
    _unauthorized(client.get(f"{API}/hazards", headers=world.auth("inspector")))


def test_deactivated_user_is_401(client, world, factory):
    with transaction(factory) as s:
        s.execute(update(User).where(User.username == "inspector").values(active=False))
    err = _unauthorized(client.get(f"{API}/hazards", headers=world.auth("inspector")))
    assert "停用" in err["message"]


# --- scope: 404, identical to an id that does not exist ---------------------------------------------


def _hidden_requests(client, world, user: str, hazard_id: int, today) -> dict[str, tuple[int, dict]]:
    """Every way to touch a hazard; answers keyed by what was tried."""
    out: dict[str, tuple[int, dict]] = {}
    h = world.auth(user)
    r = client.get(f"{API}/hazards/{hazard_id}", headers=h)
    out["get"] = (r.status_code, r.json())
    r = client.get(f"{API}/hazards/{hazard_id}/events", headers=h)
    out["events"] = (r.status_code, r.json())
    for action in ACTIONS:
        body = body_for(action, today=today, level="major", uscc=world.enterprises["coal"],
                        evidence=[1], assessment_report=2)
        r = client.post(f"{API}/hazards/{hazard_id}/actions/{action}", json=body, headers=h)
        out[action] = (r.status_code, r.json())
    r = upload(client, world, user, hazard_id, png_bytes())
    out["attachment"] = (r.status_code, r.json())
    return out


@pytest.mark.parametrize(
    "user, why",
    [
        ("xinzhou_inspector", "region subtree"),
        ("xiaoyi_inspector", "sibling county"),
        ("ent_chem", "another enterprise"),
        ("coal_only_inspector", "industry binding"),
        ("county_committee", "committee of another county"),
    ],
)
def test_out_of_scope_answers_exactly_like_a_missing_id(client, world, factory, clock, user, why):
    today = local_date(clock())
    # A registered coal-enterprise hazard in 离石区 (141102); for the industry case a 危险化学品 one.
    if user == "coal_only_inspector":
        hid = new_hazard(factory, world, clock(), industry="危险化学品")
    elif user == "county_committee":
        hid = new_hazard(factory, world, clock(), reporter="xiaoyi_inspector", region_code="141181")
    else:
        hid = drive(factory, world, clock(), "registered", level="major")
    hidden = _hidden_requests(client, world, user, hid, today)
    missing = _hidden_requests(client, world, user, MISSING_ID, today)
    assert hidden.keys() == missing.keys()
    for what, (status, body) in hidden.items():
        assert status == 404, (why, what, status, body)
        assert (status, body) == missing[what], (why, what)
        assert body["error"]["code"] == "not_found"
        assert str(hid) not in body["error"]["message"]


def test_in_scope_controls_for_the_same_users(client, world, factory, clock):
    """The same callers do see hazards inside their scope: the 404s above are about scope."""
    coal = new_hazard(factory, world, clock())  # 141102 煤矿
    assert client.get(f"{API}/hazards/{coal}", headers=world.auth("coal_only_inspector")).status_code == 200
    assert client.get(f"{API}/hazards/{coal}", headers=world.auth("city_committee")).status_code == 200
    assert client.get(f"{API}/hazards/{coal}", headers=world.auth("province_committee")).status_code == 200
    assert client.get(f"{API}/hazards/{coal}", headers=world.auth("auditor")).status_code == 200
    xinzhou = new_hazard(factory, world, clock(), reporter="xinzhou_inspector", region_code="140902", industry="燃气")
    assert client.get(f"{API}/hazards/{xinzhou}", headers=world.auth("xinzhou_inspector")).status_code == 200
    assert client.get(f"{API}/hazards/{xinzhou}", headers=world.auth("auditor")).status_code == 404
    registered = drive(factory, world, clock(), "registered")
    assert client.get(f"{API}/hazards/{registered}", headers=world.auth("ent_coal")).status_code == 200
    # A hazard not yet linked to an enterprise is no enterprise's business.
    assert client.get(f"{API}/hazards/{coal}", headers=world.auth("ent_coal")).status_code == 404


def test_scope_is_checked_before_role_and_state(client, world, factory, clock):
    """An enterprise user may not register anything (403 in scope), but a hidden hazard still
    answers 404, so the role check cannot be used to probe for ids."""
    today = local_date(clock())
    hid = drive(factory, world, clock(), "registered")
    body = body_for("register", today=today, level="general", uscc=world.enterprises["coal"])
    assert_error(act(client, world, "ent_coal", hid, "register", body), 403, "role")
    assert_error(act(client, world, "ent_chem", hid, "register", body), 404, "not_found")
    # Wrong state in scope is 409; out of scope it stays 404.
    assert_error(act(client, world, "inspector", hid, "register", body), 409, "state")
    assert_error(act(client, world, "xinzhou_inspector", hid, "register", body), 404, "not_found")


def test_huge_or_odd_ids_answer_like_missing_ones(client, world):
    """An id in ASCII digits that no row can have is simply missing (404); what is not such an id
    at all (a sign, 31 digits) is malformed (422, issue 10)."""
    missing = client.get(f"{API}/hazards/{MISSING_ID}", headers=world.auth("inspector"))
    assert_error(missing, 404)
    for hid in (-1, 10**30):
        assert_error(client.get(f"{API}/hazards/{hid}", headers=world.auth("inspector")), 422)
        assert_error(act(client, world, "inspector", hid, "comment", {"text": "x"}), 422)
    for hid in (0, 2**63 - 1, 2**63):
        resp = client.get(f"{API}/hazards/{hid}", headers=world.auth("inspector"))
        assert resp.status_code == 404, (hid, resp.text)
        assert resp.json() == missing.json()
        resp = act(client, world, "inspector", hid, "comment", {"text": "x"})
        assert resp.status_code == 404, (hid, resp.text)
    assert_error(client.get(f"{API}/hazards/abc", headers=world.auth("inspector")), 422)
