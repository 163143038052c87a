"""直报 through the API: submit, return with a reason, submit again, accept; the frozen figures with
their hash and record chain; the children's states for the city; refusals in Chinese."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import update

from db.engine import transaction
from db.models import Hazard
from tests.app.api.support import API, assert_error, field_errors
from tests.helpers import drive

R = f"{API}/reports"
NOV30 = datetime(2026, 11, 30, 1, 0, tzinfo=timezone.utc)  # the deadline day, 09:00 in Shanghai


def test_submit_return_resubmit_accept(client, world, factory, clock):
    hazard = drive(factory, world, clock(), "rectifying", level="general")
    county, city = world.auth("county_committee"), world.auth("city_committee")
    early = client.post(f"{R}/monthly/141102/2026-11/submit", headers=county)
    assert early.status_code == 422 and "2026年11月30日" in field_errors(early)["month"]
    clock.current = NOV30
    done = client.post(f"{R}/monthly/141102/2026-11/submit", headers=county)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["state"] == "submitted" and body["state_label"] == "已上报，待审核" and len(body["sha256"]) == 64
    assert body["deadline"] == "2026-11-30" and body["late"] is False and body["parent_code"] == "141100"
    assert_error(client.post(f"{R}/monthly/141102/2026-11/submit", headers=county), 409, "already_submitted")

    with transaction(factory) as s:  # a change after submission: the month answers its frozen figures
        s.execute(update(Hazard).where(Hazard.id == hazard).values(level="major"))
    shown = client.get(f"{R}/monthly", params={"month": "2026-11", "region": "141102"}, headers=city).json()
    assert shown["basis"] == "submitted" and shown["submission"]["state"] == "submitted"
    assert shown["month_figures"]["total"]["general_found"] == 1 and shown["month_figures"]["total"]["major_found"] == 0
    live = client.get(f"{R}/monthly", params={"month": "2026-11", "region": "141102", "basis": "live"},
                      headers=city).json()
    assert live["basis"] == "live" and live["month_figures"]["total"]["major_found"] == 1

    states = client.get(f"{R}/submissions", params={"month": "2026-11"}, headers=city).json()
    assert states["region_code"] == "141100" and states["state"] == "not_drafted"
    kids = {c["region_code"]: c for c in states["children"]}
    assert kids["141102"]["state"] == "submitted" and kids["141181"]["state"] == "not_drafted"
    assert kids["141181"]["late"] is False  # the deadline day is not over

    assert_error(client.post(f"{R}/monthly/141102/2026-11/accept", headers=county), 403)
    assert "reason" in field_errors(client.post(f"{R}/monthly/141102/2026-11/return", headers=city, json={}))
    assert "reason" in field_errors(client.post(f"{R}/monthly/141102/2026-11/return", headers=city,
                                                json={"reason": "  "}))
    returned = client.post(f"{R}/monthly/141102/2026-11/return", headers=city, json={"reason": "重大隐患数与台账不符"})
    assert returned.status_code == 200 and returned.json()["state"] == "returned"
    assert returned.json()["return_reason"] == "重大隐患数与台账不符"
    assert client.post(f"{R}/monthly/141102/2026-11/submit", headers=county).json()["state"] == "submitted"
    accepted = client.post(f"{R}/monthly/141102/2026-11/accept", headers=world.auth("city_committee2"))
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted" and accepted.json()["version"] == 4

    frozen = client.get(f"{R}/monthly/141102/2026-11/submitted", headers=world.auth("auditor"))
    assert frozen.status_code == 200, frozen.text
    out = frozen.json()
    assert out["verified"] is True and out["sha256"] == accepted.json()["sha256"]
    assert [e["action"] for e in out["events"]] == ["submit", "return", "submit", "accept"]
    assert out["events"][-1]["payload"]["sha256"] == out["sha256"] and out["events"][0]["actor_name"] == "county_committee"
    assert out["report"]["month_figures"]["total"]["major_found"] == 1  # frozen at the second submission
    rolled = client.get(f"{R}/monthly", params={"month": "2026-11", "basis": "rollup"}, headers=city).json()
    assert rolled["basis"] == "rollup" and rolled["month_figures"]["total"]["major_found"] == 1


def test_refusals(client, world, clock):
    clock.current = NOV30
    county = world.auth("county_committee")
    assert_error(client.post(f"{R}/monthly/141181/2026-11/submit", headers=county), 403)  # another county
    assert_error(client.post(f"{R}/monthly/141102/2026-11/submit", headers=world.auth("inspector")), 403)
    assert_error(client.post(f"{R}/monthly/140000/2026-11/submit", headers=world.auth("province_committee")), 403)
    assert_error(client.get(f"{R}/submissions", params={"month": "2026-11", "region": "140902"}, headers=county), 403)
    assert_error(client.get(f"{R}/submissions", params={"month": "2026-11"}, headers=world.auth("ent_coal")), 403)
    assert_error(client.get(f"{R}/monthly/141102/2026-11/submitted", headers=world.auth("xinzhou_inspector")), 403)
    assert_error(client.get(f"{R}/monthly/141102/2026-11/submitted", headers=county), 404, "not_submitted")
    assert "month" in field_errors(client.post(f"{R}/monthly/141102/2026-13/submit", headers=county))
    assert "region" in field_errors(client.post(f"{R}/monthly/14110x/2026-11/submit", headers=county))
    assert "month" in field_errors(client.get(f"{R}/submissions", params={"month": "2027-01"}, headers=county))
    assert "basis" in field_errors(client.get(f"{R}/monthly", params={"month": "2026-11", "basis": "submitted"},
                                              headers=county))
    assert "basis" in field_errors(client.get(f"{R}/monthly", params={"month": "2026-11", "basis": "rollup"},
                                              headers=county))
    long = client.post(f"{R}/monthly/141102/2026-11/return", headers=world.auth("city_committee"),
                       json={"reason": "长" * 3000})
    assert long.status_code == 422
    plain = client.get(f"{R}/monthly", params={"month": "2026-11"}, headers=world.auth("coal_only_inspector")).json()
    assert plain["basis"] == "live" and plain["submission"] is None and plain["industry"] == "煤矿"


def test_late_messages_reach_the_inbox(client, world, factory):
    from db.engine import UnitOfWork
    from services.calendar.workdays import WorkCalendar
    from services.reports.submission_duties import sweep

    for day in (24, 30):
        sweep(UnitOfWork(factory), now=datetime(2026, 11, day, 0, 30, tzinfo=timezone.utc), calendar=WorkCalendar())
    sweep(UnitOfWork(factory), now=datetime(2026, 12, 1, 0, 30, tzinfo=timezone.utc), calendar=WorkCalendar())
    county = client.get(f"{API}/me/inbox", headers=world.auth("county_committee")).json()
    titles = [m["title"] for m in county["messages"]]
    assert "月报逾期未报：离石区 2026-11" in titles and "月报今日截止：离石区 2026-11" in titles
    assert all(m["hazard_id"] is None for m in county["messages"])
    city = [m["title"] for m in client.get(f"{API}/me/inbox", headers=world.auth("city_committee")).json()["messages"]]
    assert "下级月报逾期未报：离石区 2026-11" in city
