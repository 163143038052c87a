"""`GET /api/v1/enterprises` and `/enterprises/{id}`: 一张表 for government readers, in scope."""

from __future__ import annotations

from datetime import date, timedelta

from db.engine import transaction
from db.models import Enterprise, SelfInspection
from tests.app.api.support import API, MISSING_ID, assert_error
from tests.helpers import drive
from tests.services.blacklist.support import decision, enterprise_id


def _setup(factory, world, now):
    coal = enterprise_id(factory, world, "coal")
    with transaction(factory) as s:
        ent = s.get(Enterprise, coal)
        ent.supervising_department, ent.responsible_official = "离石区能源局", "王监管"
        s.add(SelfInspection(enterprise_id=coal, month="2026-11", checked_from=date(2026, 11, 1),
                             checked_to=date(2026, 11, 20), scope="全矿井", principal="张矿长", nil_return=True,
                             filed_by_id=None, filed_at=now - timedelta(days=2)))
    decision(factory, coal, "2026-Q3", date(2026, 9, 1), date(2027, 9, 1), now - timedelta(days=80))
    open_id = drive(factory, world, now, "registered")
    closed_id = drive(factory, world, now, "closed")
    return coal, open_id, closed_id


def test_list_shows_the_facts_in_scope(client, world, factory, clock):
    coal, _, _ = _setup(factory, world, clock())
    resp = client.get(f"{API}/enterprises", headers=world.auth("city_committee"))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [i["name"] for i in body["items"]] == ["离石区金源煤业有限公司", "孝义市鑫化化工有限公司"]  # not 忻州
    row = body["items"][0]
    assert (row["id"], row["supervising_department"], row["responsible_official"], row["open_hazards"],
            row["blacklisted"], row["return_filed"]) == (coal, "离石区能源局", "王监管", 1, True, True)
    chem = body["items"][1]
    assert (chem["supervising_department"], chem["open_hazards"], chem["blacklisted"], chem["return_filed"]) == (
        None, 0, False, False)
    assert (body["total"], body["unassigned_total"], body["month"]) == (2, 1, "2026-11")


def test_filters(client, world, factory, clock):
    _setup(factory, world, clock())
    auth = world.auth("province_committee")

    def names(**params):
        resp = client.get(f"{API}/enterprises", params=params, headers=auth)
        assert resp.status_code == 200, resp.text
        return [i["name"] for i in resp.json()["items"]]
    assert names(unassigned="true") == ["忻府区城燃燃气有限公司", "孝义市鑫化化工有限公司"]
    assert names(blacklisted="true") == ["离石区金源煤业有限公司"]
    assert names(blacklisted="false") == ["忻府区城燃燃气有限公司", "孝义市鑫化化工有限公司"]
    assert names(industry="燃气") == ["忻府区城燃燃气有限公司"]
    assert names(q="鑫化") == ["孝义市鑫化化工有限公司"]
    assert names(q="91141102") == ["离石区金源煤业有限公司"]
    assert names(q="100%_") == []


def test_detail_with_hazards_returns_decisions_and_history(client, world, factory, clock):
    coal, open_id, closed_id = _setup(factory, world, clock())
    resp = client.get(f"{API}/enterprises/{coal}", headers=world.auth("inspector"))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["enterprise"]["blacklisted"] is True and body["listed_until"] == "2027-09-01"
    assert sorted(h["id"] for h in body["hazards"]) == sorted([open_id, closed_id])
    assert [r["month"] for r in body["returns"]] == ["2026-11"]
    assert [d["quarter"] for d in body["decisions"]] == ["2026-Q3"]
    kinds = [h["kind"] for h in body["history"]]
    assert sorted(kinds) == ["blacklist", "hazard_closed", "hazard_opened", "hazard_opened", "return"]
    assert body["history"][-1]["kind"] == "blacklist"  # the oldest (2026-09-05), last
    assert [h["on"] for h in body["history"]] == sorted((h["on"] for h in body["history"]), reverse=True)


def test_out_of_scope_is_404_and_enterprises_are_refused(client, world, factory, clock):
    coal, _, _ = _setup(factory, world, clock())
    assert_error(client.get(f"{API}/enterprises/{coal}", headers=world.auth("xinzhou_inspector")), 404)
    assert client.get(f"{API}/enterprises/{coal}", headers=world.auth("coal_only_inspector")).status_code == 200
    chem = enterprise_id(factory, world, "chem")
    assert_error(client.get(f"{API}/enterprises/{chem}", headers=world.auth("coal_only_inspector")), 404)
    assert_error(client.get(f"{API}/enterprises/{coal}", headers=world.auth("ent_coal")), 404)
    assert_error(client.get(f"{API}/enterprises", headers=world.auth("ent_coal")), 403)
    assert_error(client.get(f"{API}/enterprises/{MISSING_ID}", headers=world.auth("admin")), 404)


def test_hostile_input_is_refused_not_500(client, world):
    auth = world.auth("admin")
    for params in ({"industry": "x" * 33}, {"industry": "不存在"}, {"q": "x" * 101}, {"per_page": 201},
                   {"page": 0}, {"page": "abc"}, {"blacklisted": "maybe"}, {"unassigned": "\x00"}):
        resp = client.get(f"{API}/enterprises", params=params, headers=auth)
        assert resp.status_code == 422, (params, resp.text)
    for path in ("x1", "99999999999999999999", "-1", "1.5"):
        assert client.get(f"{API}/enterprises/{path}", headers=auth).status_code in (404, 422)
    assert client.get(f"{API}/enterprises", params={"q": "'; DROP TABLE enterprises; --\u202e"},
                      headers=auth).json()["items"] == []
