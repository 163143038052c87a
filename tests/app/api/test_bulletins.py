"""`/api/v1/bulletins`: the month's 通报 list, its review and the numbered 通报, over HTTP."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from db.engine import read_only, transaction
from db.models import BulletinItem
from services.audit import records
from services.bulletins import collect
from services.bulletins.items import propose
from tests.app.api.support import API, MISSING_ID, assert_error
from tests.services.bulletins.support import DEPARTMENT, escalated, uow

URL = f"{API}/bulletins"


def setup_list(factory, world, clock) -> tuple[str, dict[str, int]]:
    escalated(factory, world, clock, 20)
    collect.sweep(uow(factory), now=clock())
    month = f"{clock():%Y-%m}"
    with transaction(factory) as s:
        propose(s, key=f"late_report:141102:{month}", region_code="141102", month=month, kind="late_report",
                reason="月报逾期3个工作日上报", now=clock(), subject_region_code="141102")
        propose(s, key=f"late_report:140902:{month}", region_code="140900", month=month, kind="late_report",
                reason="忻府区月报迟报", now=clock(), subject_region_code="140902")
        ids = {kind + ":" + region: i for i, kind, region in
               s.execute(select(BulletinItem.id, BulletinItem.kind, BulletinItem.region_code))}
    return month, ids


def test_review_and_issue_a_bulletin(client, world, factory, clock):
    month, ids = setup_list(factory, world, clock)
    hazard_item, late_item, xinzhou = (ids["overdue_hazard:141102"], ids["late_report:141102"],
                                       ids["late_report:140900"])
    resp = client.get(f"{URL}/items", params={"month": month}, headers=world.auth("county_committee"))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["region_code"], body["region_name"], body["can_review"]) == ("141102", "吕梁市离石区", True)
    first = next(i for i in body["items"] if i["id"] == hazard_item)
    assert (first["kind_label"], first["enterprise"], first["department"], first["status_label"]) == (
        "隐患逾期未整改", "离石区金源煤业有限公司", DEPARTMENT, "待审核")
    assert first["hazard_code"].startswith("141102-")
    assert {i["id"] for i in body["items"]} == {hazard_item, late_item}
    # Readers above: the city office and the auditor read, do not review.
    for reader in ("city_committee", "auditor"):
        other = client.get(f"{URL}/items", params={"month": month, "region": "141102"}, headers=world.auth(reader))
        assert other.status_code == 200 and other.json()["can_review"] is False
        assert_error(client.post(f"{URL}/items/{hazard_item}/review", json={"decision": "include"},
                                 headers=world.auth(reader)), 403)
    # Another area's entry does not exist for the county office.
    assert_error(client.post(f"{URL}/items/{xinzhou}/review", json={"decision": "include"},
                             headers=world.auth("county_committee")), 404)
    err = assert_error(client.post(f"{URL}/items/{late_item}/review", json={"decision": "exclude"},
                                   headers=world.auth("county_committee")), 422)
    assert [d["field"] for d in err["details"]] == ["note"]
    ok = client.post(f"{URL}/items/{hazard_item}/review", json={"decision": "include", "note": "逾期严重"},
                     headers=world.auth("county_committee"))
    assert ok.status_code == 200 and ok.json()["status"] == "included" and ok.json()["review_note"] == "逾期严重"
    ok = client.post(f"{URL}/items/{late_item}/review", json={"decision": "exclude", "note": "系统故障所致"},
                     headers=world.auth("county_committee"))
    assert ok.json()["status"] == "excluded"

    issued = client.post(f"{URL}/issue", json={"region": "141102", "month": month},
                         headers=world.auth("county_committee"))
    assert issued.status_code == 201, issued.text
    b = issued.json()
    year = month[:4]
    assert (b["number"], b["issuer_name"], b["entries"]) == (f"离石安委办通〔{year}〕1号", "吕梁市离石区安全生产委员会办公室", 1)
    assert b["title"] == f"关于{year}年{int(month[5:])}月事故隐患排查治理有关问题的通报"
    html = client.get(f"{URL}/{b['id']}", headers=world.auth("auditor"))
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert hashlib.sha256(html.content).hexdigest() == b["sha256"] == html.headers["etag"].strip('"')
    text = html.text
    assert first["hazard_code"] in text and DEPARTMENT in text and "离石区金源煤业有限公司" in text
    assert "月报逾期3个工作日上报" not in text and b["number"] in text
    assert "逾期20个工作日未完成整改" in text and "<td>离石区金源煤业有限公司</td>" in text
    pdf = client.get(f"{URL}/{b['id']}", params={"format": "pdf"}, headers=world.auth("county_committee"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # Issued entries are final; issuing again finds nothing.
    assert_error(client.post(f"{URL}/items/{hazard_item}/review", json={"decision": "exclude", "note": "撤回"},
                             headers=world.auth("county_committee")), 409, "issued")
    assert_error(client.post(f"{URL}/issue", json={"region": "141102", "month": month},
                             headers=world.auth("county_committee")), 409, "nothing_to_issue")
    # The next one is number 2, and the chain records every act with the document's hash.
    client.post(f"{URL}/items/{late_item}/review", json={"decision": "include"}, headers=world.auth("county_committee"))
    again = client.post(f"{URL}/issue", json={"region": "141102", "month": month},
                        headers=world.auth("county_committee")).json()
    assert again["number"] == f"离石安委办通〔{year}〕2号"
    listing = client.get(f"{URL}/items", params={"month": month}, headers=world.auth("county_committee")).json()
    assert [x["number"] for x in listing["bulletins"]] == [b["number"], again["number"]]
    with read_only(factory) as s:
        trail = records.trail(s, f"bulletin:141102:{month}")
        assert [e.action for e in trail] == ["include", "exclude", "issue", "include", "issue"]
        assert b["sha256"] in trail[2].payload
        assert records.verify(s)[2] == []
    # Out of the area: a city of another office's bulletin is not there.
    assert_error(client.get(f"{URL}/{b['id']}", headers=world.auth("xinzhou_inspector")), 403)


def test_bulletin_refusals_and_hostile_input(client, world, factory, clock):
    month, ids = setup_list(factory, world, clock)
    committee = world.auth("county_committee")
    assert_error(client.get(f"{URL}/items", params={"month": month}), 401)
    assert_error(client.get(f"{URL}/items", params={"month": month}, headers=world.auth("ent_coal")), 403, "role")
    assert_error(client.get(f"{URL}/items", params={"month": month, "region": "140900"}, headers=committee), 403)
    for params in ({"month": "2026-13"}, {"month": "x" * 7}, {"month": month, "region": "14110x"},
                   {"month": month, "region": "999999"}, {"month": "'; --"}, {"month": "２０２６-１１"}):
        resp = client.get(f"{URL}/items", params=params, headers=committee)
        assert resp.status_code == 422, (params, resp.text)
    assert_error(client.get(f"{URL}/items", params={"month": "2026-11" * 50}, headers=committee), 422)
    for body in ({}, {"decision": "maybe"}, {"decision": "include", "note": "x" * 501}, {"decision": "include", "x": 1},
                 {"decision": ["include"]}, {"decision": "exclude", "note": "a\u0007b"}):
        resp = client.post(f"{URL}/items/{ids['late_report:141102']}/review", json=body, headers=committee)
        assert resp.status_code in (400, 422), (body, resp.status_code, resp.text)
    assert_error(client.post(f"{URL}/items/{MISSING_ID}/review", json={"decision": "include"}, headers=committee), 404)
    assert_error(client.post(f"{URL}/items/x1/review", json={"decision": "include"}, headers=committee), 422)
    assert_error(client.get(f"{URL}/{MISSING_ID}", headers=committee), 404)
    for body in ({"region": "141102"}, {"region": "141102" * 3, "month": month}, {"region": 141102, "month": month}):
        assert client.post(f"{URL}/issue", json=body, headers=committee).status_code == 422
