"""`GET /api/v1/public/exposure`: listed major hazards and recent closures, nothing internal."""

from __future__ import annotations

from tests.app.api.support import API, assert_error
from tests.app.web.test_web_exposure import exposure_world


def test_public_exposure_json(client, world, factory, clock):
    known = exposure_world(factory, world, clock)
    resp = client.get(f"{API}/public/exposure")
    assert resp.status_code == 200
    body = resp.json()
    assert [e["code"] for e in body["listed"]] == known["listed"]
    assert [e["code"] for e in body["closed"]] == known["closed"]
    entry = body["listed"][0]
    assert set(entry) == {"code", "enterprise", "summary", "deadline", "listing_body", "listing_level", "listed_on",
                          "closed_on"}
    assert entry["listing_body"] == "吕梁市安全生产委员会办公室" and entry["listing_level"] == "市级"
    for bad in ("0", "x", "99999999"):
        assert_error(client.get(f"{API}/public/exposure", params={"page": bad}), 422)
