"""Documents over HTTP: a hazard's list, one document as stored HTML and as PDF (its text read back
with pypdf), and 404 for anything out of scope, like the hazard itself."""

from __future__ import annotations

import hashlib
import io
from urllib.parse import quote

import pytest
from pypdf import PdfReader

from services import documents
from tests.app.api.support import API, assert_error
from tests.helpers import drive
from db.engine import UnitOfWork


@pytest.fixture
def issued(factory, world, clock):
    hid = drive(factory, world, clock(), "supervised", level="major")
    assert documents.issue_pending(UnitOfWork(factory), now=clock()).issued == 2
    return hid


def test_list_and_html(client, world, issued):
    resp = client.get(f"{API}/hazards/{issued}/documents", headers=world.auth("inspector"))
    assert resp.status_code == 200
    listed = resp.json()
    assert [(d["kind"], d["kind_label"], d["title"]) for d in listed] == [
        ("rectification_notice", "限期整改通知书", "限期整改通知书"),
        ("listing_notice", "挂牌督办通知书", "挂牌督办通知书"),
    ]
    assert all({"id", "number", "sha256", "issued_at"} <= set(d) for d in listed)
    first = listed[0]
    resp = client.get(f"{API}/documents/{first['id']}", headers=world.auth("ent_coal"))
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    assert hashlib.sha256(resp.content).hexdigest() == first["sha256"]  # exactly as stored
    assert first["number"] in resp.text and "离石区金源煤业有限公司" in resp.text


def test_pdf_carries_title_enterprise_and_number(client, world, issued):
    doc = client.get(f"{API}/hazards/{issued}/documents", headers=world.auth("city_committee")).json()[1]
    resp = client.get(f"{API}/documents/{doc['id']}", params={"format": "pdf"}, headers=world.auth("city_committee"))
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/pdf"
    assert resp.content.startswith(b"%PDF")
    assert f"filename*=UTF-8''{quote(doc['number'] + '.pdf', safe='')}" in resp.headers["content-disposition"]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(resp.content)).pages)
    flat = "".join(text.split())
    for expected in ("挂牌督办通知书", "离石区金源煤业有限公司", doc["number"], "吕梁市安全生产委员会办公室"):
        assert expected in flat, expected


def test_out_of_scope_and_unknown_answer_404(client, world, issued):
    doc_id = client.get(f"{API}/hazards/{issued}/documents", headers=world.auth("inspector")).json()[0]["id"]
    for user in ("xinzhou_inspector", "ent_chem", "xiaoyi_inspector"):
        assert_error(client.get(f"{API}/hazards/{issued}/documents", headers=world.auth(user)), 404)
        assert_error(client.get(f"{API}/documents/{doc_id}", headers=world.auth(user)), 404)
    assert_error(client.get(f"{API}/documents/999999", headers=world.auth("inspector")), 404)
    assert client.get(f"{API}/documents/{doc_id}").status_code == 401
    assert_error(client.get(f"{API}/documents/{doc_id}", params={"format": "doc"}, headers=world.auth("inspector")),
                 422)
