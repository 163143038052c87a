"""Idempotency-Key: a retry returns the stored answer and has no second effect."""

from __future__ import annotations

from sqlalchemy import func, select

from db.engine import read_only
from db.models import Hazard
from services.kernel.clock import local_date
from tests.app.api.support import API, act, assert_error, db_state, events
from tests.helpers import body_for, drive, new_hazard, report_body


def test_same_key_same_body_replays_the_answer(client, world, factory, clock):
    hid = drive(factory, world, clock(), "registered")
    body = body_for("file_plan", today=local_date(clock()), level="general", uscc=world.enterprises["coal"])
    first = act(client, world, "ent_coal", hid, "file_plan", body, Idempotency_Key="plan-1")
    assert first.status_code == 200, first.text
    assert "idempotent-replayed" not in first.headers
    clock.advance(minutes=5)  # a retry a little later still gets the first answer
    second = act(client, world, "ent_coal", hid, "file_plan", body, Idempotency_Key="plan-1")
    assert second.status_code == 200, second.text
    assert second.headers["idempotent-replayed"] == "true"
    assert second.content == first.content  # the stored answer, byte for byte
    assert second.headers["etag"] == first.headers["etag"] == '"3"'
    # One effect: one file_plan event, version 3.
    assert [e["action"] for e in events(client, world, "inspector", hid)] == ["report", "register", "file_plan"]
    assert db_state(factory, hid) == (3, "rectifying", 3)
    # Without the key the same request is a new request, refused because the state moved on.
    assert_error(act(client, world, "ent_coal", hid, "file_plan", body), 409, "state")


def test_same_key_other_body_is_409(client, world, factory, clock):
    hid = drive(factory, world, clock(), "registered")
    assert act(client, world, "inspector", hid, "comment", {"text": "第一条"}, Idempotency_Key="k").status_code == 200
    before = db_state(factory, hid)
    err = assert_error(act(client, world, "inspector", hid, "comment", {"text": "第二条"}, Idempotency_Key="k"),
                       409, "idempotency_key_reused")
    assert "Idempotency-Key" in err["message"]
    # The same key on another hazard or another action is another request too.
    other = drive(factory, world, clock(), "registered")
    assert_error(act(client, world, "inspector", other, "comment", {"text": "第一条"}, Idempotency_Key="k"),
                 409, "idempotency_key_reused")
    assert_error(act(client, world, "inspector", hid, "order_suspension", {"reason": "x"}, Idempotency_Key="k"),
                 409, "idempotency_key_reused")
    assert db_state(factory, hid) == before


def test_keys_are_per_user(client, world, factory, clock):
    hid = drive(factory, world, clock(), "registered")
    a = act(client, world, "inspector", hid, "comment", {"text": "同一句话"}, Idempotency_Key="shared")
    b = act(client, world, "inspector2", hid, "comment", {"text": "同一句话"}, Idempotency_Key="shared")
    assert a.status_code == b.status_code == 200
    assert "idempotent-replayed" not in b.headers
    assert b.json()["version"] == a.json()["version"] + 1
    trail = events(client, world, "inspector", hid)
    assert [(e["action"], e["actor"]["name"]) for e in trail[-2:]] == [("comment", "inspector"), ("comment", "inspector2")]
    # Each user's replay returns their own stored answer.
    again = act(client, world, "inspector", hid, "comment", {"text": "同一句话"}, Idempotency_Key="shared")
    assert again.headers["idempotent-replayed"] == "true" and again.json() == a.json()


def test_refused_requests_are_not_remembered(client, world, factory, clock):
    """A 4xx stores nothing: after fixing the request, the same key does the work."""
    hid = drive(factory, world, clock(), "supervised", level="major")
    body = body_for("file_plan", today=local_date(clock()), level="major", uscc=world.enterprises["coal"])
    incomplete = {k: v for k, v in body.items() if k != "contingency_plan"}
    assert_error(act(client, world, "ent_coal", hid, "file_plan", incomplete, Idempotency_Key="p"), 422, "five_items")
    assert_error(act(client, world, "ent_coal", hid, "file_plan", incomplete, Idempotency_Key="p"), 422, "five_items")
    ok = act(client, world, "ent_coal", hid, "file_plan", body, Idempotency_Key="p")
    assert ok.status_code == 200 and "idempotent-replayed" not in ok.headers


def test_report_with_a_key_creates_one_hazard(client, world, factory):
    headers = {**world.auth("inspector"), "Idempotency-Key": "report-2026-11-24-001"}
    first = client.post(f"{API}/hazards", json=report_body(), headers=headers)
    second = client.post(f"{API}/hazards", json=report_body(), headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.content == first.content
    with read_only(factory) as s:
        assert s.execute(select(func.count()).select_from(Hazard)).scalar_one() == 1
    assert_error(client.post(f"{API}/hazards", json=report_body(title="另一个隐患"), headers=headers),
                 409, "idempotency_key_reused")


def test_replay_does_not_bypass_scope_or_auth(client, world, factory, clock):
    hid = new_hazard(factory, world, clock())
    assert act(client, world, "inspector", hid, "comment", {"text": "x"}, Idempotency_Key="s").status_code == 200
    # Another user's key space: xinzhou_inspector cannot see the hazard, key or no key.
    assert_error(act(client, world, "xinzhou_inspector", hid, "comment", {"text": "x"}, Idempotency_Key="s"), 404)
    resp = client.post(f"{API}/hazards/{hid}/actions/comment", json={"text": "x"}, headers={"Idempotency-Key": "s"})
    assert_error(resp, 401)


def test_overlong_key_is_422(client, world, factory, clock):
    hid = new_hazard(factory, world, clock())
    resp = act(client, world, "inspector", hid, "comment", {"text": "x"}, Idempotency_Key="k" * 201)
    err = assert_error(resp, 422)
    assert err["details"][0]["field"] == "Idempotency-Key"


def test_an_answer_stored_before_the_read_model_changed_is_still_replayed_as_it_was(client, world, factory, clock):
    """A key is kept for days; a deployment in between may change `HazardOut`. The retry still
    gets the first answer, byte for byte, not a 500 from validating it against the new model."""
    import json

    from sqlalchemy import update

    from db.engine import transaction
    from db.models import IdempotencyKey

    hid = drive(factory, world, clock(), "registered")
    first = act(client, world, "inspector", hid, "comment", {"text": "旧版本的回答"}, Idempotency_Key="old-shape")
    assert first.status_code == 200, first.text
    old = first.json()
    del old["title"]  # a field the model of its day did not have yet
    old["retired_field"] = "x"
    stored = json.dumps(old, ensure_ascii=False)
    with transaction(factory) as s:
        s.execute(update(IdempotencyKey).where(IdempotencyKey.key == "old-shape").values(response_body=stored))
    again = act(client, world, "inspector", hid, "comment", {"text": "旧版本的回答"}, Idempotency_Key="old-shape")
    assert again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == stored.encode()
    assert again.headers["etag"] == first.headers["etag"]
