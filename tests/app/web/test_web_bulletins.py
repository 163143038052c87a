"""The 通报 and 问责约谈 pages: the list and its review and issue forms (a refusal shown again at its
entry), the issued 通报, the referral and 约谈 records with their forms, and the hazard page's
records; refused to those who may not read them."""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import select

from db.engine import read_only
from db.models import Bulletin, BulletinItem, Referral, Summons
from services.accountability import records
from services.bulletins import collect
from tests.app.web.conftest import csrf_of
from tests.services.bulletins.support import DEPARTMENT, escalated, uow


def _one(factory, column):
    with read_only(factory) as s:
        return s.scalar(select(column))


def test_review_and_issue_through_the_pages(browser, factory, world, clock):
    escalated(factory, world, clock, 20)
    collect.sweep(uow(factory), now=clock())
    item_id, month = _one(factory, BulletinItem.id), f"{clock():%Y-%m}"
    office = browser("county_committee")
    page = office.get("/bulletins")
    assert page.status_code == 200 and 'href="/bulletins"' in page.text
    assert "隐患逾期未整改" in page.text and DEPARTMENT in page.text and "印发通报" in page.text
    token = csrf_of(page.text)
    refused = office.post(f"/bulletins/items/{item_id}/review", data={"csrf_token": token, "decision": "exclude",
                                                                      "note": ""})
    assert refused.status_code == 422 and "不列入通报须说明理由" in refused.text
    assert f'id="item-{item_id}-error"' in refused.text
    ok = office.post(f"/bulletins/items/{item_id}/review", data={"csrf_token": token, "decision": "include",
                                                                 "note": "情节严重"})
    assert ok.status_code == 303 and ok.headers["location"] == f"/bulletins?month={month}&region=141102"
    issued = office.post("/bulletins/issue", data={"csrf_token": token, "month": month, "region": "141102"})
    assert issued.status_code == 303
    listing = office.get(issued.headers["location"]).text
    number = f"离石安委办通〔{month[:4]}〕1号"
    assert f"已印发通报 {number}（1 项）" in listing and number in listing
    bulletin_id = _one(factory, Bulletin.id)
    doc = office.get(f"/bulletins/{bulletin_id}/document")
    assert doc.status_code == 200 and hashlib.sha256(doc.content).hexdigest() == _one(factory, Bulletin.sha256)
    assert office.get(f"/bulletins/{bulletin_id}/document?format=pdf").content.startswith(b"%PDF")
    again = office.post("/bulletins/issue", data={"csrf_token": token, "month": month, "region": "141102"})
    assert again.status_code == 409 and "没有可印发的条目" in again.text
    # Without the CSRF token nothing happens.
    assert office.post(f"/bulletins/items/{item_id}/review", data={"decision": "exclude", "note": "x"}).status_code == 403
    # The city office reads, without the forms; an enterprise is refused.
    city = browser("city_committee").get(f"/bulletins?region=141102&month={month}")
    assert city.status_code == 200 and number in city.text and "印发通报（" not in city.text
    assert browser("ent_coal").get("/bulletins").status_code == 403
    assert browser("county_committee").get(f"/bulletins/{bulletin_id}x/document").status_code == 404
    for q in ("month=2026-13", "month=" + "x" * 300, "region=abc", "region=140900&month=2026-11", "month=%E2%80%AE"):
        resp = office.get(f"/bulletins?{q}")
        assert resp.status_code in (403, 422), (q, resp.status_code)


def test_referral_and_summons_pages(browser, factory, world, clock):
    hid = escalated(factory, world, clock, 60, sweep_after=10)
    records.sweep(uow(factory), now=clock())
    referral_id, summons_id = _one(factory, Referral.id), _one(factory, Summons.id)
    office = browser("county_committee")
    home = office.get("/accountability")
    assert home.status_code == 200 and "吕梁市离石区纪委监委" in home.text and 'href="/accountability"' in home.text
    page = office.get(f"/accountability/referrals/{referral_id}")
    assert "本地区未配置纪检监察机关" in page.text and "登记办理结果" in page.text
    token = csrf_of(page.text)
    refused = office.post(f"/accountability/referrals/{referral_id}/outcome",
                          data={"csrf_token": token, "outcome": "declined", "note": ""})
    assert refused.status_code == 422 and "请填写办理情况说明" in refused.text
    ok = office.post(f"/accountability/referrals/{referral_id}/outcome",
                     data={"csrf_token": token, "outcome": "accepted", "note": "已受理"})
    assert ok.status_code == 303
    assert re.search(r'id="outcome">已受理：已受理', office.get(ok.headers["location"]).text)
    letter = office.get(f"/accountability/referrals/{referral_id}/letter")
    assert letter.status_code == 200 and "关于移交重大事故隐患逾期未整改问题线索的函" in letter.text
    # The supervisor records the 约谈; the hazard page shows both records and the commitments.
    supervisor = browser("supervisor")
    spage = supervisor.get(f"/accountability/summonses/{summons_id}")
    stoken = csrf_of(spage.text)
    bad = supervisor.post(f"/accountability/summonses/{summons_id}/record",
                          data={"csrf_token": stoken, "held_on": "2099-01-01", "attendees": "", "commitments": "x"})
    assert bad.status_code == 422 and "约谈日期不能晚于今天" in bad.text and "请填写参加人员" in bad.text
    held = f"{clock():%Y-%m-%d}"
    done = supervisor.post(f"/accountability/summonses/{summons_id}/record",
                           data={"csrf_token": stoken, "held_on": held, "attendees": "张建国（矿长）",
                                 "commitments": "两周内完成锚索补打"})
    assert done.status_code == 303
    hazard = supervisor.get(f"/hazards/{hid}").text
    assert "两周内完成锚索补打" in hazard and "吕梁市离石区纪委监委" in hazard
    # The enterprise sees its 约谈 commitments beside its progress form, not the referral.
    own = browser("ent_coal").get(f"/hazards/{hid}").text
    assert "两周内完成锚索补打" in own and "吕梁市离石区纪委监委" not in own and "报告整改进展" in own
    # Out of reach: the enterprise and another area see nothing.
    assert browser("ent_coal").get(f"/accountability/referrals/{referral_id}").status_code == 403
    assert browser("xinzhou_inspector").get(f"/accountability/summonses/{summons_id}").status_code == 403
    assert browser("auditor").get(f"/accountability/referrals/{referral_id}").status_code == 200
    assert office.get("/accountability/referrals/99999999").status_code == 404
    assert office.get("/accountability/referrals/%EF%BC%91").status_code == 404
