"""问责移交 and 约谈 records from the ladder (services/accountability/records.py): once per event,
addressed to the configured 纪检监察 body (or an inferred one, said so), with the facts, timeline and
steps as sent and a numbered letter; a summon skipped by a catch-up makes no 约谈."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select

from db.engine import read_only, transaction
from db.models import Referral, Summons
from services.accountability import bodies, records
from services.audit import records as chain
from tests.services.bulletins.support import DEPARTMENT, escalated, uow


def rows(factory, model) -> list:
    with read_only(factory) as s:
        return s.execute(select(model.__table__).order_by(model.id)).all()


def test_a_summon_makes_one_summons_record(factory, world, clock):
    hid = escalated(factory, world, clock, 10)
    assert records.sweep(uow(factory), now=clock()) == {"summonses": 1, "referrals": 0}
    assert records.sweep(uow(factory), now=clock()) == {"summonses": 0, "referrals": 0}
    [s] = rows(factory, Summons)
    assert (s.hazard_id, s.region_code, s.held_on, s.attendees) == (hid, "141102", None, None)
    assert s.enterprise_id == world_enterprise_id(factory, world)


def world_enterprise_id(factory, world) -> int:
    from db.models import Enterprise
    with read_only(factory) as s:
        return s.scalar(select(Enterprise.id).where(Enterprise.uscc == world.enterprises["coal"]))


def test_a_referral_is_addressed_to_an_inferred_body_when_none_is_configured(factory, world, clock):
    hid = escalated(factory, world, clock, 60, sweep_after=10)  # summoned first, then referred
    assert records.sweep(uow(factory), now=clock()) == {"summonses": 1, "referrals": 1}
    [r] = rows(factory, Referral)
    facts = json.loads(r.facts)
    assert (r.hazard_id, r.region_code, r.addressed_to, r.outcome) == (hid, "141102", "吕梁市离石区纪委监委", "pending")
    assert facts["addressee_configured"] is False
    assert r.number == "离石安委办移〔" + r.number.split("〔")[1] and r.number.endswith("〕1号")
    assert r.sha256 == hashlib.sha256(r.html.encode()).hexdigest()
    assert "未配置纪检监察机关" in r.html and "吕梁市离石区纪委监委" in r.html
    assert facts["enterprise"]["department"] == DEPARTMENT and DEPARTMENT in r.html
    assert [(t["action"], t["who"]) for t in facts["timeline"]] == [
        ("报告隐患", "inspector"), ("登记（限期整改）", "inspector"), ("报送整改方案", "ent_coal"),
        ("督办升级：约谈", "系统"), ("督办升级：问责移交", "系统")]
    assert "督办升级：约谈" in r.html and "报送整改方案" in r.html
    assert any("约谈" in step["what"] for step in facts["steps"])
    assert facts["hazard"]["code"] in r.html
    assert records.sweep(uow(factory), now=clock()) == {"summonses": 0, "referrals": 0}
    assert len(rows(factory, Referral)) == 1


def test_a_catch_up_referral_makes_no_summons_and_uses_the_nearest_configured_body(factory, world, clock):
    with transaction(factory) as s:
        bodies.set_body(s, "141100", "中共吕梁市纪律检查委员会 吕梁市监察委员会", now=clock())
    escalated(factory, world, clock, 60)  # refer, with summon skipped: no meeting was called
    assert records.sweep(uow(factory), now=clock()) == {"summonses": 0, "referrals": 1}
    [r] = rows(factory, Referral)
    assert r.addressed_to == "中共吕梁市纪律检查委员会 吕梁市监察委员会"
    assert json.loads(r.facts)["addressee_configured"] is True and "未配置纪检监察机关" not in r.html


def test_bodies_are_checked_and_listed(factory, world, clock):
    import pytest
    from services.kernel.errors import Invalid
    with transaction(factory) as s:
        for region, name in (("999999", "某纪委"), ("141102", ""), ("141102", "x" * 101), ("141102", "纪委\x00")):
            with pytest.raises(Invalid):
                bodies.set_body(s, region, name, now=clock())
        bodies.set_body(s, "141102", "离石区纪委监委", now=clock())
        bodies.set_body(s, "141102", "中共吕梁市离石区纪委 离石区监委", now=clock())
    with read_only(factory) as s:
        assert [(b.region_code, b.name) for b in bodies.list_bodies(s)] == [("141102", "中共吕梁市离石区纪委 离石区监委")]
        assert bodies.addressee(s, "141181") == ("孝义市纪委监委", False)
        assert bodies.addressee(s, "141102") == ("中共吕梁市离石区纪委 离石区监委", True)
        assert chain.verify(s)[2] == []


def test_two_sweeps_at_once_make_each_record_once(factory, world, clock):
    import threading

    escalated(factory, world, clock, 60, sweep_after=10)
    barrier, results = threading.Barrier(2), []

    def attempt() -> None:
        barrier.wait(timeout=10)
        results.append(records.sweep(uow(factory), now=clock()))

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r["referrals"] for r in results) == [0, 1] and sorted(r["summonses"] for r in results) == [0, 1]
    assert len(rows(factory, Referral)) == 1 and len(rows(factory, Summons)) == 1
    assert rows(factory, Referral)[0].number.endswith("〕1号")


def test_a_repeated_review_or_record_adds_no_event(factory, world, clock):
    from services.accountability import actions
    from services.bulletins import collect, review

    escalated(factory, world, clock, 60, sweep_after=10)
    records.sweep(uow(factory), now=clock())
    collect.sweep(uow(factory), now=clock())
    summons_id = rows(factory, Summons)[0].id
    with read_only(factory) as s:
        item_id = s.scalar(select(review.BulletinItem.id))
    held = f"{clock():%Y-%m-%d}"
    for _ in range(2):
        with transaction(factory) as s:
            review.decide(s, world.p("county_committee"), item_id, "include", "严重", now=clock())
            actions.record_summons(s, world.p("supervisor"), summons_id, held_on=held, attendees="矿长",
                                   commitments="月底完成", now=clock())
    with read_only(factory) as s:
        month = f"{clock():%Y-%m}"
        assert [e.action for e in chain.trail(s, f"bulletin:141102:{month}")] == ["include"]
        assert [e.action for e in chain.trail(s, f"summons:{summons_id}")] == ["record"]


def test_a_progress_report_cites_a_held_summons_of_its_own_hazard(factory, world, clock):
    """`report_progress` may carry `summons_id`: a 约谈 of the same hazard whose meeting is recorded;
    it is kept in the action's audit event. Another hazard's record, a missing one and one not yet
    held are refused on the field."""
    import json

    import pytest

    from db.models import AuditEvent
    from services.accountability import actions
    from services.engine import transitions
    from services.kernel.errors import DomainError
    from tests.helpers import drive

    hid = escalated(factory, world, clock, 10)
    records.sweep(uow(factory), now=clock())
    [summons] = rows(factory, Summons)
    other = drive(factory, world, clock(), "rectifying")

    def progress(hazard_id, summons_id):
        with transaction(factory) as s:
            transitions.perform(s, world.p("ent_coal"), hazard_id, "report_progress",
                                {"note": "按约谈承诺完成通风系统改造", "summons_id": summons_id}, now=clock())

    for hazard_id, sid, message in ((hid, summons.id, "尚未登记"), (other, summons.id, "不属于该隐患"),
                                    (hid, 999_999, "不属于该隐患")):
        with pytest.raises(DomainError) as refused:
            progress(hazard_id, sid)
        [detail] = refused.value.details
        assert detail["field"] == "summons_id" and message in detail["message"]
    with transaction(factory) as s:
        actions.record_summons(s, world.p("county_committee"), summons.id, held_on=clock().date().isoformat(),
                               attendees="企业主要负责人、安全总监", commitments="10日内完成通风系统改造", now=clock())
    progress(hid, summons.id)
    with read_only(factory) as s:
        last = s.execute(select(AuditEvent.action, AuditEvent.payload).where(AuditEvent.hazard_id == hid)
                         .order_by(AuditEvent.seq.desc())).first()
    assert last.action == "report_progress"
    assert json.loads(last.payload)["body"]["summons_id"] == summons.id
