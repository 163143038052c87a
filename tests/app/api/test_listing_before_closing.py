"""A major hazard is closed only by 摘牌 (issue 11, item 4; 临县 2021: 县政府对重大安全隐患实施挂牌
督办、核查销号): until the 安委办 lists it, its plan, acceptance request, acceptance and closing are
refused with 409 and a Chinese reason, and nobody is offered them; once listed, they go through."""

from __future__ import annotations

from sqlalchemy import update

from db.engine import transaction
from db.models import Hazard
from services.kernel.clock import local_date
from tests.app.api.support import act, assert_error, get
from tests.helpers import add_attachment, body_for, drive


def _body(action: str, clock, world, **kw):
    return body_for(action, today=local_date(clock()), level="major", uscc=world.enterprises["coal"], **kw)


def _unlist(factory, hid: int) -> None:
    """A hazard that reached this state unlisted (before this rule, or moved in from a ledger)."""
    with transaction(factory) as s:
        s.execute(update(Hazard).where(Hazard.id == hid).values(listing_level=None, listing_body=None, listed_at=None))


def _relist(factory, hid: int) -> None:
    with transaction(factory) as s:
        s.execute(update(Hazard).where(Hazard.id == hid).values(listing_level="city"))


def test_the_enterprise_is_told_at_once_that_the_listing_comes_first(client, world, factory, clock):
    hid = drive(factory, world, clock(), "registered", level="major")
    offered = get(client, world, "ent_coal", hid).json()["allowed_actions"]
    assert "file_plan" not in offered and "request_acceptance" not in offered and "request_extension" in offered
    err = assert_error(act(client, world, "ent_coal", hid, "file_plan", _body("file_plan", clock, world)),
                       409, "listing_required")
    assert "挂牌督办" in err["message"] and "安委办" in err["message"] and "报送整改方案" in err["message"]
    evidence = [add_attachment(factory, hid, clock())]
    report = add_attachment(factory, hid, clock(), "report.pdf")
    err = assert_error(act(client, world, "ent_coal", hid, "request_acceptance",
                           _body("request_acceptance", clock, world, evidence=evidence, assessment_report=report)),
                       409, "listing_required")
    assert "挂牌督办" in err["message"] and "申请验收" in err["message"]
    assert "supervise" in get(client, world, "county_committee", hid).json()["allowed_actions"]
    # listed by the county's 安委办: the plan goes in
    listing = {**_body("supervise", clock, world), "listing_level": "county"}
    assert act(client, world, "county_committee", hid, "supervise", listing).status_code == 200
    assert "file_plan" in get(client, world, "ent_coal", hid).json()["allowed_actions"]
    resp = act(client, world, "ent_coal", hid, "file_plan", _body("file_plan", clock, world))
    assert resp.status_code == 200, resp.text


def test_an_unlisted_major_hazard_is_neither_accepted_nor_closed(client, world, factory, clock):
    hid = drive(factory, world, clock(), "acceptance_requested", level="major")  # listed by the city
    _unlist(factory, hid)
    assert "accept" not in get(client, world, "inspector", hid).json()["allowed_actions"]
    accept = _body("accept", clock, world)
    err = assert_error(act(client, world, "inspector", hid, "accept", accept), 409, "listing_required")
    assert "挂牌督办" in err["message"] and "验收" in err["message"]
    _relist(factory, hid)
    resp = act(client, world, "inspector", hid, "accept", accept)
    assert resp.status_code == 200 and resp.json()["state"] == "accepted", resp.text

    _unlist(factory, hid)
    for office in ("county_committee", "city_committee"):
        assert "close" not in get(client, world, office, hid).json()["allowed_actions"]
        err = assert_error(act(client, world, office, hid, "close", _body("close", clock, world)),
                           409, "listing_required")
        assert "摘牌销号" in err["message"]
    _relist(factory, hid)
    assert "close" in get(client, world, "city_committee", hid).json()["allowed_actions"]
    resp = act(client, world, "city_committee", hid, "close", _body("close", clock, world))
    assert resp.status_code == 200 and resp.json()["state"] == "closed", resp.text
