"""曝光 (`/public/exposure`, no login): exactly the listed major hazards and the closures of the last
90 days, with nothing internal (no description, location, people, plan or tracking code)."""

from __future__ import annotations

from sqlalchemy import select

from db.engine import read_only, transaction
from db.models import Hazard
from services.engine import transitions
from tests.helpers import drive


def _codes(factory, ids: list[int]) -> list[str]:
    with read_only(factory) as s:
        return [s.get(Hazard, i).code for i in ids]

def _close(factory, world, now, hid: int) -> None:
    with transaction(factory) as s:
        transitions.perform(s, world.p("city_committee"), hid, "close", {"opinion": "同意销号"}, now=now)

def exposure_world(factory, world, clock) -> dict[str, list[str]]:
    """Hazards of every kind the page must tell apart; the codes it must show, in its order."""
    old = drive(factory, world, clock(), "accepted", level="major")
    _close(factory, world, clock(), old)  # closed 100 days ago: no longer shown
    clock.advance(days=100)
    supervised = drive(factory, world, clock(), "supervised", level="major")
    rectifying = drive(factory, world, clock(), "rectifying", level="major")
    requested = drive(factory, world, clock(), "acceptance_requested", level="major")
    drive(factory, world, clock(), "rectifying", level="general")
    drive(factory, world, clock(), "registered", level="major")  # not listed yet
    drive(factory, world, clock(), "reported")
    closed = drive(factory, world, clock(), "accepted", level="major")
    _close(factory, world, clock(), closed)
    clock.advance(days=1)
    return {"listed": _codes(factory, [requested, rectifying, supervised]), "closed": _codes(factory, [closed]),
            "hidden": _codes(factory, [old])}

def test_exposure_shows_the_listed_majors_and_nothing_internal(client, factory, world, clock):
    known = exposure_world(factory, world, clock)
    page = client.get("/public/exposure")
    assert page.status_code == 200
    html = page.text
    with read_only(factory) as s:
        every = s.execute(select(Hazard.code, Hazard.description, Hazard.location, Hazard.tracking_code)).all()
    shown = [code for code, *_ in every if code in html]
    assert sorted(shown) == sorted(known["listed"] + known["closed"])
    listed_part, closed_part = html.split("近期销号")
    assert [c for c in known["listed"] if c in listed_part] == known["listed"]
    assert all(c not in listed_part for c in known["closed"])
    assert known["closed"][0] in closed_part and known["hidden"][0] not in html
    assert "吕梁市安全生产委员会办公室" in html and "离石区金源煤业有限公司" in html
    for _, description, location, tracking in every:
        assert description not in html and location not in html
        assert tracking is None or tracking not in html
    for internal in ("张建国", "补打锚索", "顶板事故应急预案", "inspector", "ent_coal", "city_committee"):
        assert internal not in html
    assert 'href="/public/exposure"' in html  # the public navigation links it

def test_exposure_takes_any_query_string(client, factory, world, clock):
    for q in ("page=0", "page=-5", "page=abc", "page=99999999999", "page=%00", "page=1&page=2", "x=" + "y" * 5000,
              "page=１"):
        resp = client.get(f"/public/exposure?{q}")
        # a control character is refused by the input guard (422) like everywhere; the rest is a page
        assert resp.status_code == (422 if "%00" in q else 200), (q, resp.status_code)
