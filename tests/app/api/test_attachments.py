"""POST /hazards/{id}/attachments: typed by content, size-limited, scoped, recorded with SHA-256."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from db.engine import read_only
from db.models import Attachment
from tests.app.api.support import API, EXE, JPEG, MISSING_ID, PDF, assert_error, field_errors, png_bytes, png_of_size, upload
from tests.helpers import drive, new_hazard


def _count(factory) -> int:
    with read_only(factory) as s:
        return s.execute(select(func.count()).select_from(Attachment)).scalar_one()


def _no_leftovers(settings) -> None:
    root = settings.attachments_dir
    assert not root.exists() or not list(root.glob(".upload-*")), "a temporary upload file was left behind"


@pytest.mark.parametrize(
    "name, data, ctype",
    [("photo.png", png_bytes(3, 2), "image/png"), ("site.jpg", JPEG, "image/jpeg"),
     ("report.pdf", PDF, "application/pdf")],
)
def test_upload_small_files(client, world, factory, clock, settings, name, data, ctype):
    hid = drive(factory, world, clock(), "rectifying")
    resp = upload(client, world, "ent_coal", hid, data, name, ctype)
    assert resp.status_code == 201, resp.text
    att = resp.json()
    assert isinstance(att["id"], int) and att["id"] > 0
    assert att["sha256"] == hashlib.sha256(data).hexdigest()
    assert att["size"] == len(data)
    assert att["content_type"] == ctype and att["filename"] == name
    stored = settings.attachments_dir / att["sha256"][:2] / att["sha256"]
    assert stored.read_bytes() == data
    with read_only(factory) as s:
        row = s.get(Attachment, att["id"])
        assert (row.hazard_id, row.sha256, row.size) == (hid, att["sha256"], len(data))
        assert row.uploaded_by_id == world.p("ent_coal").id
    _no_leftovers(settings)


def test_type_comes_from_the_content_not_the_claim(client, world, factory, clock):
    hid = new_hazard(factory, world, clock())
    resp = upload(client, world, "inspector", hid, PDF, "scan.png", "image/png")
    assert resp.status_code == 201 and resp.json()["content_type"] == "application/pdf"


def test_uploaders_of_every_official_role(client, world, factory, clock):
    hid = drive(factory, world, clock(), "registered")
    for user in ("ent_coal", "inspector", "supervisor", "county_committee", "city_committee"):
        resp = upload(client, world, user, hid, png_bytes(), f"{user}.png")
        assert resp.status_code == 201, (user, resp.text)


def test_same_content_twice_gives_two_records(client, world, factory, clock):
    hid = new_hazard(factory, world, clock())
    a = upload(client, world, "inspector", hid, png_bytes()).json()
    b = upload(client, world, "inspector", hid, png_bytes()).json()
    assert a["sha256"] == b["sha256"] and a["id"] != b["id"]


def test_limit_is_inclusive_and_over_it_is_422(client, world, factory, clock, settings):
    hid = new_hazard(factory, world, clock())
    limit = settings.max_attachment_bytes
    at_limit = png_of_size(limit)
    resp = upload(client, world, "inspector", hid, at_limit, "big.png")
    assert resp.status_code == 201, resp.text
    assert resp.json()["size"] == limit
    before = _count(factory)
    for size in (limit + 1, limit * 3):
        resp = upload(client, world, "inspector", hid, png_of_size(size), "huge.png")
        fields = field_errors(resp)
        assert list(fields) == ["file"]
        assert "195 KB" in fields["file"], fields  # not "0 MB"
        assert assert_error(resp, 422)["message"] == "附件过大"
    assert _count(factory) == before
    _no_leftovers(settings)


@pytest.mark.parametrize(
    "name, data, ctype",
    [
        ("setup.exe", EXE, "application/octet-stream"),
        ("setup.png", EXE, "image/png"),
        ("notes.png", "这不是图片，只是文字。".encode(), "image/png"),
        ("page.pdf", b"<html><body>%PDF-1.4</body></html>", "application/pdf"),
        ("image.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif"),
        ("doc.jpg", b"\xff\xd8", "image/jpeg"),  # too short to be a JPEG
    ],
)
def test_wrong_type_is_422(client, world, factory, clock, settings, name, data, ctype):
    hid = new_hazard(factory, world, clock())
    resp = upload(client, world, "inspector", hid, data, name, ctype)
    fields = field_errors(resp)
    assert list(fields) == ["file"] and "只接受" in fields["file"]
    assert _count(factory) == 0
    _no_leftovers(settings)


def test_empty_or_missing_file_is_422(client, world, factory, clock):
    hid = new_hazard(factory, world, clock())
    assert field_errors(upload(client, world, "inspector", hid, b"", "empty.png")) == {"file": "附件不能为空"}
    resp = client.post(f"{API}/hazards/{hid}/attachments", data={"note": "no file"}, headers=world.auth("inspector"))
    assert field_errors(resp) == {"file": "此项为必填项"}
    assert _count(factory) == 0


@pytest.mark.parametrize("user", ["xinzhou_inspector", "ent_chem", "xiaoyi_inspector", "coal_only_inspector"])
def test_out_of_scope_is_404_like_missing(client, world, factory, clock, settings, user):
    if user == "coal_only_inspector":
        hid = new_hazard(factory, world, clock(), industry="危险化学品")
    else:
        hid = drive(factory, world, clock(), "registered")
    hidden = upload(client, world, user, hid, png_bytes())
    missing = upload(client, world, user, MISSING_ID, png_bytes())
    assert_error(hidden, 404, "not_found")
    assert hidden.json() == missing.json()
    # Even an oversized or mistyped file answers 404: scope is checked before the content.
    assert upload(client, world, user, hid, EXE, "x.exe").json() == missing.json()
    assert _count(factory) == 0
    _no_leftovers(settings)


@pytest.mark.parametrize("user", ["auditor", "admin"])
def test_read_only_roles_are_403(client, world, factory, clock, user):
    hid = drive(factory, world, clock(), "registered")
    assert_error(upload(client, world, user, hid, png_bytes()), 403, "role")
    assert _count(factory) == 0


def test_unauthenticated_upload_is_401(client, world, factory, clock):
    hid = new_hazard(factory, world, clock())
    resp = client.post(f"{API}/hazards/{hid}/attachments", files={"file": ("a.png", png_bytes(), "image/png")})
    assert_error(resp, 401)
    assert _count(factory) == 0
