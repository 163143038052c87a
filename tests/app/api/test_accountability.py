"""`/api/v1/referrals` and `/api/v1/summonses`: the records the ladder made, their outcome and
meeting recorded over HTTP, each an event on the record's chain."""

from __future__ import annotations

import hashlib

from db.engine import read_only
from services.accountability import records
from services.audit import records as chain
from tests.app.api.support import API, MISSING_ID, assert_error
from tests.services.bulletins.support import escalated, uow


def made(factory, world, clock) -> int:
    hid = escalated(factory, world, clock, 60, sweep_after=10)
    assert records.sweep(uow(factory), now=clock()) == {"summonses": 1, "referrals": 1}
    return hid


def test_referral_outcome_and_letter(client, world, factory, clock):
    hid = made(factory, world, clock)
    listing = client.get(f"{API}/referrals", headers=world.auth("auditor"))
    assert listing.status_code == 200
    [r] = listing.json()
    assert (r["hazard_id"], r["addressed_to"], r["addressee_configured"], r["outcome"]) == (
        hid, "吕梁市离石区纪委监委", False, "pending")
    assert [t["action"] for t in r["facts"]["timeline"]][-1] == "督办升级：问责移交"
    url = f"{API}/referrals/{r['id']}"
    html = client.get(url, params={"format": "html"}, headers=world.auth("supervisor"))
    assert html.status_code == 200 and hashlib.sha256(html.content).hexdigest() == r["sha256"]
    assert client.get(url, params={"format": "pdf"}, headers=world.auth("county_committee")).content.startswith(b"%PDF")
    assert_error(client.get(url, headers=world.auth("ent_coal")), 404)
    assert_error(client.get(url, headers=world.auth("xinzhou_inspector")), 404)
    assert_error(client.get(f"{API}/referrals", headers=world.auth("ent_coal")), 403)
    # Only the referring office records the outcome; the steps go forward only.
    assert_error(client.post(f"{url}/outcome", json={"outcome": "accepted"}, headers=world.auth("city_committee")), 403)
    assert_error(client.post(f"{url}/outcome", json={"outcome": "accepted"}, headers=world.auth("auditor")), 403)
    office = world.auth("county_committee")
    err = assert_error(client.post(f"{url}/outcome", json={"outcome": "declined"}, headers=office), 422)
    assert [d["field"] for d in err["details"]] == ["note"]
    assert client.post(f"{url}/outcome", json={"outcome": "pending"}, headers=office).status_code == 422
    ok = client.post(f"{url}/outcome", json={"outcome": "accepted", "note": "已受理，编号吕纪〔2027〕3号"}, headers=office)
    assert ok.status_code == 200 and ok.json()["outcome_label"] == "已受理"
    assert client.post(f"{url}/outcome", json={"outcome": "investigating"}, headers=office).status_code == 200
    done = client.post(f"{url}/outcome", json={"outcome": "concluded", "note": "给予企业负责人警告处分"}, headers=office)
    assert done.json()["outcome"] == "concluded"
    assert_error(client.post(f"{url}/outcome", json={"outcome": "declined", "note": "x"}, headers=office), 409, "outcome")
    with read_only(factory) as s:
        trail = chain.trail(s, f"referral:{r['id']}")
        assert [(e.action, e.actor_name) for e in trail] == [("outcome", "county_committee")] * 3
        assert '"to":"concluded"' in trail[-1].payload and chain.verify(s)[2] == []
    assert_error(client.post(f"{API}/referrals/{MISSING_ID}/outcome", json={"outcome": "accepted"}, headers=office), 404)
    assert_error(client.get(f"{API}/referrals/x1", headers=office), 422)


def test_summons_record(client, world, factory, clock):
    hid = made(factory, world, clock)
    [s] = client.get(f"{API}/summonses", headers=world.auth("supervisor")).json()
    assert (s["hazard_id"], s["held_on"], s["enterprise"]) == (hid, None, "离石区金源煤业有限公司")
    url = f"{API}/summonses/{s['id']}/record"
    body = {"held_on": s["summoned_on"], "attendees": "企业主要负责人张建国；县安委办李明",
            "commitments": "两周内完成锚索补打并申请验收"}
    assert_error(client.post(url, json=body, headers=world.auth("auditor")), 403)
    assert_error(client.post(url, json=body, headers=world.auth("ent_coal")), 404)
    assert_error(client.post(url, json=body, headers=world.auth("xinzhou_inspector")), 404)
    for bad in ({**body, "held_on": "2099-01-01"}, {**body, "held_on": "2020-01-01"}, {**body, "attendees": " "},
                {**body, "commitments": "x" * 2001}, {**body, "held_on": "明天"}, {**body, "extra": 1}):
        resp = client.post(url, json=bad, headers=world.auth("supervisor"))
        assert resp.status_code == 422, (bad, resp.text)
    ok = client.post(url, json=body, headers=world.auth("supervisor"))
    assert ok.status_code == 200, ok.text
    assert (ok.json()["held_on"], ok.json()["commitments"]) == (s["summoned_on"], "两周内完成锚索补打并申请验收")
    with read_only(factory) as session:
        [event] = chain.trail(session, f"summons:{s['id']}")
        assert event.action == "record" and "锚索补打" in event.payload
    assert_error(client.post(f"{API}/summonses/{MISSING_ID}/record", json=body, headers=world.auth("supervisor")), 404)
