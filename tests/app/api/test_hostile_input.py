"""No input causes a 500 (issue 10 item 2): control characters anywhere, odd digits, bad cursors.

On PostgreSQL a NUL byte used to reach the database and fail the request with 500; elsewhere
`int("²")` raised. Each case here answers 422 (or 404 for something that cannot exist), with a
Chinese message naming the field, and changes nothing."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import func, select

from db.engine import read_only
from db.models import Attachment, Hazard
from tests.app.api.support import API, act, assert_error, db_state, field_errors, png_bytes, upload
from tests.helpers import drive, new_hazard, report_body

CONTROLS = ["\x00", "\x01", "\x0b", "\x1b", "\x1f", "\x7f", "\x85"]


def _hazards(factory) -> int:
    with read_only(factory) as s:
        return s.execute(select(func.count()).select_from(Hazard)).scalar_one()


@pytest.mark.parametrize("char", CONTROLS)
@pytest.mark.parametrize("field", ["title", "description", "location"])
def test_control_characters_in_text_fields_are_refused(client, world, factory, char, field):
    body = report_body(**{field: f"巷道{char}支护失效"})
    errors = field_errors(client.post(f"{API}/hazards", json=body, headers=world.auth("inspector")))
    assert set(errors) == {field}
    assert "控制字符" in errors[field] and f"U+{ord(char):04X}" in errors[field]
    assert _hazards(factory) == 0


def test_trailing_control_characters_are_not_stripped_silently(client, world, factory):
    """`str.strip()` would eat \\x1c-\\x1f and \\x0b: the text must be refused, not trimmed."""
    errors = field_errors(client.post(f"{API}/hazards", json=report_body(title="顶板离层\x1f", location="\x0b井下"),
                                      headers=world.auth("inspector")))
    assert set(errors) == {"title", "location"}  # every bad field at once
    assert _hazards(factory) == 0


def test_newline_and_tab_are_text(client, world, factory):
    resp = client.post(f"{API}/hazards", json=report_body(description="第一行\n第二行\t附注"),
                       headers=world.auth("inspector"))
    assert resp.status_code == 201, resp.text
    assert resp.json()["description"] == "第一行\n第二行\t附注"


def test_nul_in_a_code_field_and_an_action_body(client, world, factory, clock):
    errors = field_errors(client.post(f"{API}/hazards", json=report_body(region_code="141102\x00"),
                                      headers=world.auth("inspector")))
    assert set(errors) == {"region_code"}
    hid = drive(factory, world, clock(), "registered")
    before = db_state(factory, hid)
    errors = field_errors(act(client, world, "inspector", hid, "comment", {"text": "已电话\x00提醒"}))
    assert set(errors) == {"text"}
    assert db_state(factory, hid) == before


@pytest.mark.parametrize("url", [
    f"{API}/hazards?q=%00",
    f"{API}/hazards?industry=%E7%85%A4%00",
    f"{API}/hazards?enterprise=%1B",
    f"{API}/hazards/1%00",
    f"{API}/public/reports/ABC%00DEF",
    f"{API}/hazards?state=reported&q=ok&%00=1",
])
def test_control_characters_in_urls_are_422(client, world, url):
    err = assert_error(client.get(url, headers=world.auth("inspector")), 422)
    assert "控制字符" in err["details"][0]["message"]


@pytest.mark.parametrize("url", ["/ledger?q=%00", "/track?code=%00", "/hazards/1%00", "/audit?actor=%1F"])
def test_control_characters_in_page_urls_are_422_pages(client, url):
    resp = client.get(url, follow_redirects=False)
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("text/html") and "控制字符" in resp.text


def _header_bytes(value: str) -> bytes:
    """As a client would put it on the wire: Latin-1 when it can (the server reads headers as
    Latin-1, so b"\xb2" arrives as "²"), else UTF-8."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


@pytest.mark.parametrize("value", ['"²"', "²", '"٣"', '"' + "9" * 5000 + '"', '"+5"', '"1_0"', 'W/"x"'])
def test_if_match_takes_ascii_digits_only(client, world, factory, clock, value):
    hid = drive(factory, world, clock(), "registered")
    before = db_state(factory, hid)
    resp = client.post(f"{API}/hazards/{hid}/actions/comment", json={"text": "x"},
                       headers={**world.auth("inspector"), "If-Match": _header_bytes(value)})
    assert_error(resp, 409, "bad_if_match")
    assert db_state(factory, hid) == before


@pytest.mark.parametrize("segment", ["%C2%B2", "%D9%A3", "9" * 5000, "+5", "1_0", "-3"])
def test_path_ids_take_ascii_digits_only(client, world, segment):
    errors = field_errors(client.get(f"{API}/hazards/{segment}", headers=world.auth("inspector")))
    assert set(errors) == {"hazard_id"}


def test_an_id_beyond_any_row_is_404(client, world):
    assert_error(client.get(f"{API}/hazards/{2**63}", headers=world.auth("inspector")), 404)
    assert client.get("/hazards/%C2%B2", follow_redirects=False).status_code in (303, 404)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    _b64(b"[" * 40 + b"]" * 40),
    _b64(b'{"id":' + b"[" * 20 + b"1" + b"]" * 20 + b"}"),
    _b64(("[" * 5000).encode()),  # json.loads would recurse past Python's limit
    _b64(json.dumps({"id": "9" * 5000}).encode()),
    _b64(json.dumps({"id": "5"}).encode()),
    _b64(json.dumps({"id": 5, "x": 1}).encode()),
    _b64(json.dumps({"id": True}).encode()),
    _b64(json.dumps({"id": 2**64}).encode()),
    "\u00b2\u00b2\u00b2\u00b2",
])
def test_malformed_cursors_are_422(client, world, cursor):
    errors = field_errors(client.get(f"{API}/hazards", params={"cursor": cursor}, headers=world.auth("inspector")))
    assert set(errors) == {"cursor"}


def test_upload_filename_with_control_characters(client, world, factory, clock, settings):
    hid = new_hazard(factory, world, clock())
    before = db_state(factory, hid)
    boundary = "hazardboundary7"
    raw = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="site\x00.png"\r\n'
           f"Content-Type: image/png\r\n\r\n").encode("latin-1") + png_bytes() + f"\r\n--{boundary}--\r\n".encode()
    resp = client.post(f"{API}/hazards/{hid}/attachments", content=raw,
                       headers={**world.auth("inspector"), "Content-Type": f"multipart/form-data; boundary={boundary}"})
    errors = field_errors(resp)
    assert set(errors) == {"file"} and "控制字符" in errors["file"]
    with read_only(factory) as s:
        assert s.execute(select(func.count()).select_from(Attachment)).scalar_one() == 0
    assert db_state(factory, hid) == before
    root = settings.attachments_dir
    assert not root.exists() or not [p for p in root.rglob("*") if p.is_file()]
