"""Small helpers for the API tests: calling actions, reading hazards, building upload files."""

from __future__ import annotations

import re
import struct
import zlib
from typing import Any

from sqlalchemy import func, select

from db.engine import read_only
from db.models import AuditEvent, Hazard

API = "/api/v1"
CJK = re.compile(r"[\u4e00-\u9fff]")
ERROR_KEYS = {"code", "message", "details"}
MISSING_ID = 987654  # an id no test creates: the reference answer for "does not exist"


def has_chinese(text: str | None) -> bool:
    return bool(text) and bool(CJK.search(text))


def assert_error(resp, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is `{"error": {"code", "message" (zh-CN), "details"}}` with this status."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == ERROR_KEYS, err
    assert isinstance(err["code"], str) and err["code"]
    assert has_chinese(err["message"]), err
    if code is not None:
        assert err["code"] == code, err
    return err


def field_errors(resp) -> dict[str, str]:
    """422 details as {field: message}; every message is in Chinese."""
    err = assert_error(resp, 422)
    assert isinstance(err["details"], list) and err["details"], err
    out = {}
    for item in err["details"]:
        assert has_chinese(item["message"]), item
        out[item["field"]] = item["message"]
    return out


def act(client, world, user: str, hazard_id: int, action: str, body: dict[str, Any] | None = None,
        **headers: str):
    hdrs = {**world.auth(user), **{k.replace("_", "-"): v for k, v in headers.items()}}
    return client.post(f"{API}/hazards/{hazard_id}/actions/{action}", json=body or {}, headers=hdrs)


def get(client, world, user: str, hazard_id: int):
    return client.get(f"{API}/hazards/{hazard_id}", headers=world.auth(user))


def events(client, world, user: str, hazard_id: int) -> list[dict[str, Any]]:
    resp = client.get(f"{API}/hazards/{hazard_id}/events", headers=world.auth(user))
    assert resp.status_code == 200, resp.text
    return resp.json()


def upload(client, world, user: str, hazard_id: int, data: bytes, name: str = "photo.png",
           content_type: str = "image/png"):
    return client.post(f"{API}/hazards/{hazard_id}/attachments", files={"file": (name, data, content_type)},
                       headers=world.auth(user))


def db_state(factory, hazard_id: int) -> tuple[int, str, int]:
    """(version, state, number of audit events) straight from the database."""
    with read_only(factory) as s:
        h = s.get(Hazard, hazard_id)
        n = s.execute(select(func.count()).select_from(AuditEvent).where(AuditEvent.hazard_id == hazard_id)).scalar_one()
        return h.version, h.state, n


# --- real, tiny files -----------------------------------------------------------------------------


def png_bytes(width: int = 1, height: int = 1, pad: int = 0) -> bytes:
    """A valid PNG; `pad` adds an ancillary chunk so a test can reach a given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    parts = [
        b"\x89PNG\r\n\x1a\n",
        chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)),
        chunk(b"IDAT", zlib.compress(raw)),
    ]
    if pad:
        parts.append(chunk(b"tEXt", b"c\x00" + b"x" * pad))
    parts.append(chunk(b"IEND", b""))
    return b"".join(parts)


def png_of_size(size: int) -> bytes:
    base = len(png_bytes())
    data = png_bytes(pad=size - base - 14)  # 12 bytes of chunk framing + "c\0"
    assert len(data) == size, (len(data), size)
    return data


JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffdb004300") + bytes(range(64)) + b"\xff\xd9"
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00"
