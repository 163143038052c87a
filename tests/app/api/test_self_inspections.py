"""企业自查 over HTTP: filing and amending, reading in and out of scope, the inspectors' status list,
立查立改 with evidence, and hostile input (never a 500)."""

from __future__ import annotations

import pytest

from tests.app.api.support import API, MISSING_ID, assert_error, field_errors, png_bytes
from tests.services.inspections.support import nil_body, return_body

SI = f"{API}/self-inspections"
FIX = {"description": "消防通道堆放杂物", "location": "二号仓库东侧", "measures": "当场清理", "fixed_on": "2026-11-20"}


def test_file_amend_and_read(client, world):
    first = client.post(SI, json=return_body(), headers=world.auth("ent_coal"))
    assert first.status_code == 200, first.text
    out = first.json()
    assert (out["month"], out["version"], out["nil_return"], out["amendable"]) == ("2026-11", 1, False, True)
    assert [(h["title"], h["state"]) for h in out["hazards"]] == [("皮带机护罩缺失", "reported")]
    again = client.post(SI, json=return_body(), headers=world.auth("ent_coal")).json()
    assert (again["id"], again["version"], len(again["hazards"])) == (out["id"], 1, 1)  # a repeat doubles nothing
    amended = client.post(SI, json=return_body(principal="李明"), headers=world.auth("ent_coal")).json()
    assert (amended["id"], amended["version"], amended["principal"]) == (out["id"], 2, "李明")
    hazard = client.get(f"{API}/hazards/{out['hazards'][0]['id']}", headers=world.auth("inspector")).json()
    assert hazard["source"] == "self_check"
    for reader in ("ent_coal", "inspector", "city_committee", "auditor"):
        assert client.get(f"{SI}/{out['id']}", headers=world.auth(reader)).json()["version"] == 2
    missing = client.get(f"{SI}/{MISSING_ID}", headers=world.auth("ent_coal"))
    for outsider in ("ent_chem", "xinzhou_inspector", "xiaoyi_inspector"):
        hidden = client.get(f"{SI}/{out['id']}", headers=world.auth(outsider))
        assert_error(hidden, 404)
        assert hidden.json() == missing.json()  # the same answer as a return that does not exist


def test_refusals(client, world):
    assert_error(client.post(SI, json=nil_body(), headers=world.auth("inspector")), 403)
    bad = client.post(SI, json=return_body(nil_return=True), headers=world.auth("ent_coal"))
    assert_error(bad, 422)
    assert field_errors(bad) == {"nil_return": "零报告（未发现重大事故隐患）不能同时列出发现的隐患"}
    late = client.post(SI, json=nil_body("2026-10"), headers=world.auth("ent_coal"))
    assert "month" in field_errors(late)
    dates = client.post(SI, json=return_body(checked_from="2026-11-20", checked_to="2026-11-01"),
                        headers=world.auth("ent_coal"))
    assert field_errors(dates) == {"checked_to": "检查结束日期不能早于开始日期"}


def test_status_list_for_inspectors_and_own_list_for_enterprises(client, world):
    coal = client.post(SI, json=return_body(), headers=world.auth("ent_coal")).json()
    status = client.get(SI, params={"month": "2026-11"}, headers=world.auth("city_committee"))
    assert status.status_code == 200, status.text
    body = status.json()
    assert (body["region_code"], body["total"], body["filed"]) == ("141100", 2, 1)  # coal and chem; not 忻州's gas
    rows = {r["enterprise_name"]: r for r in body["rows"]}
    assert rows["离石区金源煤业有限公司"]["filed"] and rows["离石区金源煤业有限公司"]["hazards"] == 1
    assert not rows["孝义市鑫化化工有限公司"]["filed"] and rows["孝义市鑫化化工有限公司"]["return_id"] is None
    missing = client.get(SI, params={"month": "2026-11", "missing": "true"}, headers=world.auth("city_committee"))
    assert [r["enterprise_name"] for r in missing.json()["rows"]] == ["孝义市鑫化化工有限公司"]
    county = client.get(SI, headers=world.auth("inspector")).json()
    assert [r["enterprise_name"] for r in county["rows"]] == ["离石区金源煤业有限公司"]
    own = client.get(SI, headers=world.auth("ent_coal")).json()
    assert [(r["return_id"], r["month"]) for r in own["rows"]] == [(coal["id"], "2026-11")]
    assert client.get(SI, headers=world.auth("ent_chem")).json()["rows"] == []
    assert_error(client.get(SI, params={"region": "140900"}, headers=world.auth("inspector")), 403)
    assert "month" in field_errors(client.get(SI, params={"month": "2026-12"}, headers=world.auth("inspector")))


def test_spot_fix_with_evidence(client, world):
    rid = client.post(SI, json=nil_body(), headers=world.auth("ent_coal")).json()["id"]
    png = png_bytes()
    made = client.post(f"{SI}/{rid}/spot-fixes", data=FIX, files={"evidence": ("现场.png", png, "image/png")},
                       headers=world.auth("ent_coal"))
    assert made.status_code == 201, made.text
    assert (made.json()["evidence_size"], made.json()["evidence_filename"]) == (len(png), "现场.png")
    wrong = client.post(f"{SI}/{rid}/spot-fixes", data=FIX, files={"evidence": ("a.png", b"GIF89a....", "image/png")},
                        headers=world.auth("ent_coal"))
    assert_error(wrong, 422)
    assert field_errors(wrong) == {"file": "只接受 JPEG 图片、PNG 图片、WebP 图片、PDF 文件"}
    other = client.post(f"{SI}/{rid}/spot-fixes", data=FIX, files={"evidence": ("a.png", png, "image/png")},
                        headers=world.auth("ent_chem"))
    assert_error(other, 404)
    fixes = client.get(f"{SI}/{rid}", headers=world.auth("inspector")).json()["spot_fixes"]
    assert [f["description"] for f in fixes] == ["消防通道堆放杂物"]


@pytest.mark.parametrize("body", [
    {**return_body(), "scope": "a\x00b"},
    {**return_body(), "principal": "x" * 5000},
    {**return_body(), "month": "2026-11\u202e"},
    {**return_body(), "month": 202611},
    {**return_body(), "checked_from": "2026-02-30"},
    {**return_body(), "hazards": "none"},
    {**return_body(), "hazards": [{"title": ["x"]}]},
    {**return_body(), "link_hazard_ids": [2**70]},
    {**return_body(), "link_hazard_ids": ["²"]},
    {**return_body(), "nil_return": "maybe"},
    {**return_body(), "extra": 1},
    [],
    "text",
])
def test_hostile_bodies_are_refused_in_chinese(client, world, body):
    resp = client.post(SI, json=body, headers=world.auth("ent_coal"))
    assert_error(resp, 422)


def test_hostile_queries_and_ids(client, world):
    for params in ({"month": "x" * 8}, {"region": "14\x0002"}, {"region": "abcdef"}, {"month": "2026-00"},
                   {"missing": "perhaps"}):
        assert client.get(SI, params=params, headers=world.auth("city_committee")).status_code in (400, 422)
    for rid in ("0", "-1", "9" * 30, "²", "1e3"):
        assert client.get(f"{SI}/{rid}", headers=world.auth("inspector")).status_code in (404, 422)
    resp = client.post(f"{SI}/1/spot-fixes", data={**FIX, "fixed_on": "soon"},
                       files={"evidence": ("a.png", png_bytes(), "image/png")}, headers=world.auth("ent_coal"))
    assert_error(resp, 422)
    rid = client.post(SI, json=nil_body(), headers=world.auth("ent_coal")).json()["id"]
    empty = client.post(f"{SI}/{rid}/spot-fixes", data=FIX, files={"evidence": ("a.png", b"", "image/png")},
                        headers=world.auth("ent_coal"))
    assert field_errors(empty) == {"file": "附件不能为空"}
    long = client.post(f"{SI}/{rid}/spot-fixes", data={**FIX, "location": "x" * 301},
                       files={"evidence": ("a.png", png_bytes(), "image/png")}, headers=world.auth("ent_coal"))
    assert_error(long, 422)
