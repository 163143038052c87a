"""GET /hazards: filters, keyset pagination and per-caller scope."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import pytest

from db.engine import transaction
from services.engine import transitions
from services.kernel.clock import local_date
from tests.app.api.support import API, assert_error, field_errors
from tests.helpers import body_for, drive, new_hazard


@dataclass
class Ledger:
    ids: dict[str, int]

    def __getitem__(self, key: str) -> int:
        return self.ids[key]

    def of(self, *keys: str) -> set[int]:
        return {self.ids[k] for k in keys}


def _seed(factory, world, clock) -> Ledger:
    """Hazards across regions, industries, states, levels and enterprises (ids grow in this order)."""
    now, today = clock(), local_date(clock())
    ids: dict[str, int] = {}
    ids["coal_reported"] = new_hazard(factory, world, now, title="井下顶板离层")
    ids["coal_registered"] = drive(factory, world, now, "registered")  # deadline today + 60
    ids["coal_supervised"] = drive(factory, world, now, "supervised", level="major")
    ids["chem_reported"] = new_hazard(factory, world, now, reporter="xiaoyi_inspector", region_code="141181",
                                      industry="危险化学品", title="储罐区可燃气体报警器失效",
                                      location="孝义市某化工厂储罐区")
    ids["chem_registered"] = new_hazard(factory, world, now, reporter="xiaoyi_inspector", region_code="141181",
                                        industry="危险化学品", title="装卸站台静电接地损坏")
    with transaction(factory) as s:
        body = body_for("register", today=today, level="general", uscc=world.enterprises["chem"])
        body["deadline"] = today.replace(year=today.year + 1).isoformat()
        transitions.perform(s, world.p("xiaoyi_inspector"), ids["chem_registered"], "register", body, now=now)
    ids["gas_reported"] = new_hazard(factory, world, now, reporter="xinzhou_inspector", region_code="140902",
                                     industry="燃气", title="老旧小区燃气立管腐蚀")
    ids["coal_dismissed"] = drive(factory, world, now, "dismissed")
    ids["coal_closed"] = drive(factory, world, now, "closed")
    return Ledger(ids)


def _ids(client, world, user: str, **params) -> list[int]:
    resp = client.get(f"{API}/hazards", params={"limit": 200, **params}, headers=world.auth(user))
    assert resp.status_code == 200, resp.text
    page = resp.json()
    assert page["next_cursor"] is None
    return [item["id"] for item in page["items"]]


@pytest.fixture
def ledger(factory, world, clock) -> Ledger:
    return _seed(factory, world, clock)


def test_newest_first_and_everything_for_the_province(client, world, ledger):
    got = _ids(client, world, "province_committee")
    assert got == sorted(ledger.ids.values(), reverse=True)


def test_filter_by_state_repeatable(client, world, ledger):
    pc = "province_committee"
    assert set(_ids(client, world, pc, state="reported")) == ledger.of("coal_reported", "chem_reported", "gas_reported")
    both = _ids(client, world, pc, state=["reported", "registered"])
    assert set(both) == ledger.of("coal_reported", "chem_reported", "gas_reported", "coal_registered", "chem_registered")
    assert set(_ids(client, world, pc, state=["closed", "dismissed"])) == ledger.of("coal_closed", "coal_dismissed")
    assert _ids(client, world, pc, state="accepted") == []
    field_errors(client.get(f"{API}/hazards", params={"state": "lost"}, headers=world.auth(pc)))


def test_filter_by_level(client, world, ledger):
    pc = "province_committee"
    assert set(_ids(client, world, pc, level="major")) == ledger.of("coal_supervised")
    assert set(_ids(client, world, pc, level="general")) == ledger.of("coal_registered", "chem_registered", "coal_closed")
    assert "level" in field_errors(client.get(f"{API}/hazards", params={"level": "huge"}, headers=world.auth(pc)))


def test_filter_by_region_subtree(client, world, ledger):
    pc = "province_committee"
    luliang = ledger.of("coal_reported", "coal_registered", "coal_supervised", "chem_reported", "chem_registered",
                        "coal_dismissed", "coal_closed")
    assert set(_ids(client, world, pc, region="141100")) == luliang
    assert set(_ids(client, world, pc, region="141181")) == ledger.of("chem_reported", "chem_registered")
    assert set(_ids(client, world, pc, region="140900")) == ledger.of("gas_reported")
    assert set(_ids(client, world, pc, region="140000")) == set(ledger.ids.values())
    assert "region" in field_errors(client.get(f"{API}/hazards", params={"region": "14"}, headers=world.auth(pc)))


def test_filter_by_industry_and_enterprise(client, world, ledger):
    pc = "province_committee"
    assert set(_ids(client, world, pc, industry="危险化学品")) == ledger.of("chem_reported", "chem_registered")
    assert set(_ids(client, world, pc, industry="燃气")) == ledger.of("gas_reported")
    coal = ledger.of("coal_registered", "coal_supervised", "coal_closed")
    assert set(_ids(client, world, pc, enterprise=world.enterprises["coal"])) == coal
    assert set(_ids(client, world, pc, enterprise=world.enterprises["coal"].lower())) == coal
    assert set(_ids(client, world, pc, enterprise=world.enterprises["chem"])) == ledger.of("chem_registered")
    assert _ids(client, world, pc, enterprise=world.enterprises["gas"]) == []


def test_filter_overdue(client, world, clock, ledger):
    pc = "province_committee"
    assert _ids(client, world, pc, overdue="true") == []
    everything = set(ledger.ids.values())
    assert set(_ids(client, world, pc, overdue="false")) == everything
    clock.advance(days=61)  # past the 60-day deadlines of the coal hazards; the chem one has a year
    late = ledger.of("coal_registered", "coal_supervised")
    assert set(_ids(client, world, pc, overdue="true")) == late
    assert set(_ids(client, world, pc, overdue="false")) == everything - late
    items = client.get(f"{API}/hazards", params={"overdue": "true"}, headers=world.auth(pc)).json()["items"]
    assert all(item["overdue"] is True for item in items)
    # Closed hazards are never overdue, whatever their deadline.
    closed = client.get(f"{API}/hazards/{ledger['coal_closed']}", headers=world.auth(pc)).json()
    assert closed["overdue"] is False
    # Combined with other filters.
    assert set(_ids(client, world, pc, overdue="true", level="major")) == ledger.of("coal_supervised")


def test_filter_q(client, world, ledger):
    pc = "province_committee"
    assert set(_ids(client, world, pc, q="储罐")) == ledger.of("chem_reported")
    assert set(_ids(client, world, pc, q="孝义市某化工厂")) == ledger.of("chem_reported")  # location
    code = client.get(f"{API}/hazards/{ledger['gas_reported']}", headers=world.auth(pc)).json()["code"]
    assert set(_ids(client, world, pc, q=code)) == ledger.of("gas_reported")
    assert _ids(client, world, pc, q="根本不存在的词") == []
    assert set(_ids(client, world, pc, q="井下顶板", state="reported")) == ledger.of("coal_reported")


@pytest.mark.parametrize("limit", [1, 2, 3, 8, 50])
def test_keyset_pagination_walks_every_item_once(client, world, ledger, limit):
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        resp = client.get(f"{API}/hazards", params=params, headers=world.auth("province_committee"))
        assert resp.status_code == 200, resp.text
        page = resp.json()
        assert page["limit"] == limit and len(page["items"]) <= limit
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(page["items"]) == limit
    assert seen == sorted(ledger.ids.values(), reverse=True)
    assert len(seen) == len(set(seen))
    assert pages == -(-len(ledger.ids) // limit)


def test_pagination_keeps_filters_and_is_stable_under_inserts(client, world, factory, clock, ledger):
    pc = "province_committee"
    first = client.get(f"{API}/hazards", params={"limit": 2, "region": "141100"}, headers=world.auth(pc)).json()
    new_hazard(factory, world, clock())  # newer than every cursor: must not show up on later pages
    rest = _ids(client, world, pc, region="141100", cursor=first["next_cursor"])
    got = [i["id"] for i in first["items"]] + rest
    assert got == sorted(ledger.of("coal_reported", "coal_registered", "coal_supervised", "chem_reported",
                                   "chem_registered", "coal_dismissed", "coal_closed"), reverse=True)


def _b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    ["!!!", "not-a-cursor", _b64([1]), _b64({"page": 2}), _b64({"id": "x"}), _b64({"id": None}),
     _b64({"id": 10**30}), _b64({"id": -5}), base64.urlsafe_b64encode(b'{"id": Infinity}').decode(),
     base64.urlsafe_b64encode(b"\xff\xfe").decode()],
)
def test_bad_cursor_is_422(client, world, ledger, cursor):
    resp = client.get(f"{API}/hazards", params={"cursor": cursor}, headers=world.auth("province_committee"))
    fields = field_errors(resp)
    assert list(fields) == ["cursor"]
    assert assert_error(resp, 422)["message"] == "分页游标无效"


@pytest.mark.parametrize("limit", ["0", "201", "-1", "many"])
def test_bad_limit_is_422(client, world, limit):
    resp = client.get(f"{API}/hazards", params={"limit": limit}, headers=world.auth("inspector"))
    assert list(field_errors(resp)) == ["limit"]


def test_results_are_scoped_per_caller(client, world, ledger):
    lishi = ledger.of("coal_reported", "coal_registered", "coal_supervised", "coal_dismissed", "coal_closed")
    luliang = lishi | ledger.of("chem_reported", "chem_registered")
    assert set(_ids(client, world, "inspector")) == lishi
    assert set(_ids(client, world, "county_committee")) == lishi
    assert set(_ids(client, world, "xiaoyi_inspector")) == ledger.of("chem_reported", "chem_registered")
    assert set(_ids(client, world, "xinzhou_inspector")) == ledger.of("gas_reported")
    assert set(_ids(client, world, "city_committee")) == luliang
    assert set(_ids(client, world, "auditor")) == luliang
    assert set(_ids(client, world, "coal_only_inspector")) == lishi  # 煤矿 only
    assert set(_ids(client, world, "ent_coal")) == ledger.of("coal_registered", "coal_supervised", "coal_closed")
    assert set(_ids(client, world, "ent_chem")) == ledger.of("chem_registered")
    # A filter narrows the scope; it never widens it.
    assert _ids(client, world, "xinzhou_inspector", region="141100") == []
    assert _ids(client, world, "coal_only_inspector", industry="危险化学品") == []
    assert _ids(client, world, "ent_chem", enterprise=world.enterprises["coal"]) == []
    assert _ids(client, world, "inspector", q="储罐") == []
    # And pagination stays inside it.
    page = client.get(f"{API}/hazards", params={"limit": 1}, headers=world.auth("ent_chem")).json()
    assert [i["id"] for i in page["items"]] == [ledger["chem_registered"]] and page["next_cursor"] is None


def test_q_is_literal_and_case_insensitive_on_both_backends(client, world, factory, clock):
    lng = new_hazard(factory, world, clock(), title="LNG 储罐液位计失灵", location="加气站")
    pct = new_hazard(factory, world, clock(), title="坡度 100% 的运输坡道未设挡车装置")
    under = new_hazard(factory, world, clock(), title="1_号皮带机保护失效")
    pc = "province_committee"
    assert set(_ids(client, world, pc, q="lng")) == {lng}
    assert set(_ids(client, world, pc, q="Lng 储罐")) == {lng}
    assert set(_ids(client, world, pc, q="%")) == {pct}  # a literal percent sign, not "everything"
    assert set(_ids(client, world, pc, q="100%")) == {pct}
    assert set(_ids(client, world, pc, q="1_")) == {under}
    assert set(_ids(client, world, pc, q="_")) == {under}
    assert len(_ids(client, world, pc, q="  ")) == 3  # blank: no filter
