"""Issue 10 items 1, 4 and 7: idempotency keys, public throttles, attachments as events, the
enterprise of a registration, and the purge of old keys."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from db.engine import read_only, transaction
from db.models import Attachment, IdempotencyKey, User
from flows.housekeeping import housekeeping_flow
from services.accounts import admin
from services.engine import attachments, commands
from services.engine import housekeeping
from services.accounts.auth import principal_of
from services.kernel.clock import local_date
from services.kernel.uscc import make as make_uscc
from tests.app.api.support import API, act, assert_error, db_state, events, field_errors, png_bytes, upload
from tests.helpers import body_for, drive, new_hazard, report_body

# --- idempotency keys --------------------------------------------------------------------------------


def test_an_empty_key_is_refused_not_matched(client, world, factory, clock):
    """Once, an empty key stored an empty request hash and answered every later empty-keyed
    request of the user with that first body, performing nothing."""
    hid = drive(factory, world, clock(), "registered")
    before = db_state(factory, hid)
    for text in ("第一条", "第二条"):
        err = assert_error(act(client, world, "inspector", hid, "comment", {"text": text}, Idempotency_Key=""), 422)
        assert err["details"][0]["field"] == "Idempotency-Key" and "ASCII" in err["details"][0]["message"]
    resp = client.post(f"{API}/hazards", json=report_body(), headers={**world.auth("inspector"), "Idempotency-Key": ""})
    assert_error(resp, 422)
    assert db_state(factory, hid) == before
    with read_only(factory) as s:
        assert s.execute(select(func.count()).select_from(IdempotencyKey)).scalar_one() == 0


@pytest.mark.parametrize("key", [" ", "a b", "键", "k" * 201, "tab\tkey"])
def test_keys_are_visible_ascii(client, world, factory, clock, key):
    hid = new_hazard(factory, world, clock())
    resp = client.post(f"{API}/hazards/{hid}/actions/comment", json={"text": "x"},
                       headers={**world.auth("inspector"), "Idempotency-Key": key.encode("utf-8")})
    err = assert_error(resp, 422)
    assert err["details"][0]["field"] == "Idempotency-Key"


def test_the_stored_hash_covers_method_route_and_body(client, world, factory, clock):
    hid = new_hazard(factory, world, clock())
    assert act(client, world, "inspector", hid, "comment", {"text": "x"}, Idempotency_Key="k-1").status_code == 200
    from services.engine.commands import request_hash

    with read_only(factory) as s:
        (stored,) = s.execute(select(IdempotencyKey.request_hash)).scalars().all()
    assert stored == request_hash("POST", f"/hazards/{hid}/actions/comment", {"text": "x"})


def test_old_keys_are_purged_after_the_retention(client, world, factory, clock, settings, monkeypatch):
    hid = new_hazard(factory, world, clock())
    assert act(client, world, "inspector", hid, "comment", {"text": "旧"}, Idempotency_Key="old").status_code == 200
    clock.advance(days=6)
    assert act(client, world, "inspector", hid, "comment", {"text": "新"}, Idempotency_Key="new").status_code == 200
    clock.advance(days=1, minutes=1)  # "old" is 7 days and a minute old, "new" one day
    with transaction(factory) as s:
        purged = housekeeping.purge(s, now=clock(), idempotency_retention=timedelta(days=7))
    assert purged.idempotency_keys == 1
    with read_only(factory) as s:
        assert s.execute(select(IdempotencyKey.key)).scalars().all() == ["new"]
    # The flow does the same with the configured retention, and finds nothing more to do.
    monkeypatch.setattr("flows.housekeeping.utcnow", clock)
    monkeypatch.setattr("flows.housekeeping.session_factory", lambda: factory)
    monkeypatch.setattr("flows.housekeeping.get_settings", lambda: settings)
    assert housekeeping_flow.fn()["idempotency_keys"] == 0
    clock.advance(days=7)
    assert housekeeping_flow.fn()["idempotency_keys"] == 1


# --- public lookups ----------------------------------------------------------------------------------


def test_tracking_lookups_are_throttled_per_client(client, app, world, clock):
    app.state.ctx.settings.public_lookups_per_hour = 3
    for _ in range(3):
        assert_error(client.get(f"{API}/public/reports/ABCDEFGHJKLM"), 404)
    err = assert_error(client.get(f"{API}/public/reports/ABCDEFGHJKLM"), 429)
    assert "分钟后再试" in err["message"]
    resp = client.get(f"{API}/public/reports/ABCDEFGHJKLM")
    assert int(resp.headers["retry-after"]) > 0
    assert client.get("/track", params={"code": "ABCDEFGHJKLM"}).status_code == 429  # the page shares it
    clock.advance(hours=1, seconds=1)
    assert_error(client.get(f"{API}/public/reports/ABCDEFGHJKLM"), 404)


def test_x_forwarded_for_does_not_reset_the_report_limit(client, world):
    body = {"title": "钢瓶堆放", "description": "车库堆放钢瓶", "location": "某小区", "region_code": "141102",
            "industry": "燃气"}
    statuses = [client.post(f"{API}/public/reports", json=body, headers={"X-Forwarded-For": f"192.0.2.{i}"}).status_code
                for i in range(5)]
    assert statuses == [201, 201, 201, 429, 429]  # settings: 3 an hour


# --- attachments -------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["closed", "dismissed"])
def test_no_files_on_a_finished_hazard(client, world, factory, clock, settings, state):
    hid = drive(factory, world, clock(), state)
    before = db_state(factory, hid)
    user = "ent_coal" if state == "closed" else "inspector"
    assert_error(upload(client, world, user, hid, png_bytes()), 409)
    assert db_state(factory, hid) == before
    root = settings.attachments_dir
    assert not root.exists() or not [p for p in root.rglob("*") if p.is_file()]


def test_every_accepted_file_is_an_event(client, world, factory, clock):
    hid = new_hazard(factory, world, clock())
    resp = upload(client, world, "inspector", hid, png_bytes(2, 2), "现场.png")
    assert resp.status_code == 201 and resp.headers["etag"] == '"2"' and resp.json()["hazard_version"] == 2
    (event,) = [e for e in events(client, world, "inspector", hid) if e["action"] == "attach"]
    assert event["payload"]["body"] == {k: resp.json()[k] for k in ("filename", "sha256", "size", "content_type")} | {
        "attachment_id": resp.json()["id"]}
    assert event["actor"]["name"] == "inspector" and event["to_state"] == "reported"


def test_a_failed_insert_leaves_no_file(client, world, factory, clock, settings, monkeypatch):
    hid = new_hazard(factory, world, clock())
    kept = upload(client, world, "inspector", hid, png_bytes(1, 1), "first.png").json()

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(attachments.transitions, "perform", broken)
    with pytest.raises(RuntimeError):
        upload(client, world, "inspector", hid, png_bytes(3, 3), "second.png")
    with pytest.raises(RuntimeError):  # the same bytes as an earlier file: that file must stay
        upload(client, world, "inspector", hid, png_bytes(1, 1), "again.png")
    files = [p for p in settings.attachments_dir.rglob("*") if p.is_file()]
    assert [p.name for p in files] == [kept["sha256"]]
    with read_only(factory) as s:
        assert s.execute(select(func.count()).select_from(Attachment)).scalar_one() == 1


# --- the enterprise of a registration ------------------------------------------------------------------


def _other_county_enterprise(factory, clock) -> str:
    code = make_uscc("91141181MA0HRD009")
    with transaction(factory) as s:
        admin.add_enterprise(s, code, "孝义市另一煤业有限公司", "141181", "煤矿", now=clock())
    return code


def test_registering_to_an_enterprise_of_another_county_is_refused(client, world, factory, clock):
    uscc = _other_county_enterprise(factory, clock)
    hid = new_hazard(factory, world, clock())  # a 离石区 hazard, reported by the 离石区 inspector
    body = body_for("register", today=local_date(clock()), level="general", uscc=uscc)
    errors = field_errors(act(client, world, "inspector2", hid, "register", body))
    assert set(errors) == {"enterprise_uscc"} and "辖区" in errors["enterprise_uscc"]
    assert db_state(factory, hid)[1] == "reported"
    # A city official supervises both counties: the registration stands.
    with transaction(factory) as s:
        admin.add_user(s, "city_inspector", "inspector", "141100", now=clock(), display_name="市检查员")
    with read_only(factory) as s:
        city = principal_of(s.execute(select(User).where(User.username == "city_inspector")).scalar_one())
    with transaction(factory) as s:
        outcome = commands.perform_action(s, client.app.state.ctx.settings, city, hid, "register", body, now=clock())
    assert outcome.body.state == "registered" and outcome.body.enterprise.uscc == uscc
