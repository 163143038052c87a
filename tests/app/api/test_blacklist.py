"""`GET /api/v1/blacklist` (candidates with evidence, listed enterprises) and `POST
/api/v1/blacklist/{id}/decisions`; a listed enterprise's hazards carry the badge and the ledger
filter finds them."""

from __future__ import annotations

from datetime import timedelta

from tests.app.api.support import API, MISSING_ID, assert_error
from tests.services.blacklist.support import enterprise_id, registered, rejected_twice

BODY = {"quarter": "2026-Q4", "decision": "listed", "reason": "两次验收不通过"}


def test_board_decision_badge_and_filter(client, world, factory, clock):
    hazard_id = rejected_twice(factory, world, clock() - timedelta(days=2))
    other = registered(factory, world, clock(), "储罐区", enterprise="chem", industry="危险化学品", region="141181",
                       inspector="xiaoyi_inspector")  # another enterprise's: never listed
    coal = enterprise_id(factory, world, "coal")
    auth = world.auth("county_committee")
    board = client.get(f"{API}/blacklist", params={"quarter": "2026-Q4"}, headers=auth)
    assert board.status_code == 200, board.text
    [cand] = board.json()["candidates"]
    assert (cand["enterprise_id"], cand["failed_acceptances"], cand["decision"]) == (coal, 2, None)
    assert board.json()["listed"] == []
    assert client.get(f"{API}/hazards/{hazard_id}", headers=auth).json()["enterprise_blacklisted"] is False

    resp = client.post(f"{API}/blacklist/{coal}/decisions", json=BODY, headers=auth)
    assert resp.status_code == 201, resp.text
    assert (resp.json()["listed_from"], resp.json()["listed_until"]) == ("2026-11-24", "2027-11-24")
    again = client.post(f"{API}/blacklist/{coal}/decisions", json={**BODY, "decision": "not_listed"},
                        headers=world.auth("city_committee"))
    assert_error(again, 409, "already_decided")

    board = client.get(f"{API}/blacklist", headers=auth).json()  # the quarter defaults to today's
    assert board["quarter"] == "2026-Q4"
    assert board["candidates"][0]["decision"]["decision"] == "listed"
    assert [e["enterprise_id"] for e in board["listed"]] == [coal]
    assert client.get(f"{API}/hazards/{hazard_id}", headers=auth).json()["enterprise_blacklisted"] is True
    assert client.get(f"{API}/hazards/{other}", headers=world.auth("city_committee")).json()[
        "enterprise_blacklisted"] is False
    listed = client.get(f"{API}/hazards", params={"blacklisted": "true"}, headers=world.auth("city_committee"))
    assert [h["id"] for h in listed.json()["items"]] == [hazard_id]
    assert listed.json()["items"][0]["enterprise_blacklisted"] is True
    unlisted = client.get(f"{API}/hazards", params={"blacklisted": "false"}, headers=world.auth("city_committee"))
    assert hazard_id not in [h["id"] for h in unlisted.json()["items"]]
    assert other in [h["id"] for h in unlisted.json()["items"]]


def test_refusals_and_hostile_input(client, world, factory, clock):
    rejected_twice(factory, world, clock() - timedelta(days=2))
    coal = enterprise_id(factory, world, "coal")
    chem = enterprise_id(factory, world, "chem")
    auth = world.auth("county_committee")
    assert_error(client.get(f"{API}/blacklist", headers=world.auth("inspector")), 403, "role")
    assert_error(client.get(f"{API}/blacklist", params={"region": "141100"}, headers=auth), 403, "scope")
    for params in ({"quarter": "2026-Q5"}, {"quarter": "2027-Q1"}, {"quarter": "x" * 8}, {"region": "14110x"}):
        assert_error(client.get(f"{API}/blacklist", params=params, headers=auth), 422)
    url = f"{API}/blacklist/{coal}/decisions"
    assert_error(client.post(url, json=BODY, headers=world.auth("supervisor")), 403)
    assert_error(client.post(f"{API}/blacklist/{chem}/decisions", json=BODY, headers=auth), 404)  # 孝义
    assert_error(client.post(f"{API}/blacklist/{MISSING_ID}/decisions", json=BODY, headers=auth), 404)
    for body in ({**BODY, "reason": ""}, {**BODY, "reason": "x" * 1001}, {**BODY, "reason": "坏\x07"},
                 {**BODY, "decision": "maybe"}, {**BODY, "quarter": "2026-Q0"}, {**BODY, "reason": 5},
                 {"quarter": "2026-Q4"}, [], "x"):
        resp = client.post(url, json=body, headers=auth)
        assert resp.status_code == 422, (body, resp.text)
    resp = client.post(url, content=b"\xff\xfe", headers={**auth, "Content-Type": "application/json"})
    assert resp.status_code in (400, 422)
    assert client.get(f"{API}/blacklist", headers=auth).json()["candidates"][0]["decision"] is None
