"""Decisions: who, once, the record chain, and the listed period (1 year, 3 when listed again,
longer while a major hazard stays open)."""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta

import pytest

from db.engine import make_engine, make_session_factory, transaction
from db.models import BlacklistDecision, Hazard
from services.audit import records
from services.audit.chain import canonical, sha256
from services.blacklist import decisions, status
from services.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from tests.conftest import START, build_world
from tests.services.blacklist.support import decision, enterprise_id, listed_major, rejected_twice

NOW = START  # 2026-11-24


def _decide(factory, world, who="county_committee", quarter="2026-Q4", kind="listed", reason="屡次验收不通过", now=NOW,
            ent="coal"):
    eid = enterprise_id(factory, world, ent)
    with transaction(factory) as s:
        return decisions.decide(s, world.p(who), eid, quarter=quarter, decision=kind, reason=reason, now=now)


def test_listed_for_a_year_with_an_event_holding_the_evidence_hash(factory, world):
    rejected_twice(factory, world, NOW - timedelta(days=3))
    out = _decide(factory, world)
    assert (out.decision, out.listed_from, out.listed_until) == ("listed", "2026-11-24", "2027-11-24")
    assert len(out.evidence["failed_acceptances"]) == 2
    with transaction(factory) as s:
        [event] = records.trail(s, f"blacklist:{out.enterprise_id}:2026-Q4")
        payload = json.loads(event.payload)
        row = s.get(BlacklistDecision, out.id)
        assert payload["evidence_sha256"] == sha256(canonical(json.loads(row.evidence)))
        assert (event.action, event.actor_role, payload["decision"]) == ("decide", "committee", "listed")
        assert status.is_listed(s, out.enterprise_id, date(2026, 11, 24))
        assert not status.is_listed(s, out.enterprise_id, date(2026, 11, 23))


def test_one_decision_per_quarter_and_three_years_when_listed_again(factory, world):
    rejected_twice(factory, world, NOW - timedelta(days=3))
    _decide(factory, world)
    with pytest.raises(Conflict):
        _decide(factory, world, who="city_committee", kind="not_listed")
    later = NOW + timedelta(days=100)  # 2027-03-04, Q1: the rejections are still within 12 months
    again = _decide(factory, world, quarter="2027-Q1", now=later)
    assert (again.listed_from, again.listed_until) == ("2027-03-04", "2030-03-04")


def test_not_listed_sets_no_period(factory, world):
    rejected_twice(factory, world, NOW - timedelta(days=3))
    out = _decide(factory, world, kind="not_listed", reason="已整改到位")
    assert (out.listed_from, out.listed_until) == (None, None)
    with transaction(factory) as s:
        assert not status.is_listed(s, out.enterprise_id, date(2026, 11, 24))


def test_refusals(factory, world):
    rejected_twice(factory, world, NOW - timedelta(days=3))
    with pytest.raises(Forbidden):
        _decide(factory, world, who="inspector")
    with pytest.raises(NotFound):  # chem is in 孝义, outside 离石
        _decide(factory, world, ent="chem")
    for bad in ("", "   ", "x" * 1001, "理由\x00"):
        with pytest.raises(Invalid) as err:
            _decide(factory, world, reason=bad)
        assert err.value.details[0]["field"] == "reason"
    with pytest.raises(Invalid):
        _decide(factory, world, kind="maybe")
    with pytest.raises(Invalid):
        _decide(factory, world, quarter="2026-Q9")
    with pytest.raises(Invalid):  # 忻州 gas enterprise: no evidence, not a candidate
        _decide(factory, world, who="province_committee", ent="gas")


def test_listing_runs_on_while_a_major_hazard_discovered_before_its_end_is_open(factory, world):
    eid = enterprise_id(factory, world, "coal")
    decision(factory, eid, "2025-Q4", date(2025, 11, 1), date(2026, 11, 1), NOW)
    with transaction(factory) as s:
        assert not status.is_listed(s, eid, date(2026, 11, 24))  # run out, nothing open
    late = listed_major(factory, world, NOW - timedelta(days=10))  # discovered 2026-11-14, after the end
    with transaction(factory) as s:
        assert not status.is_listed(s, eid, date(2026, 11, 24))
    early = listed_major(factory, world, NOW - timedelta(days=30))  # 2026-10-25: before the end, open
    with transaction(factory) as s:
        assert status.is_listed(s, eid, date(2026, 11, 24))
        assert status.listed_ids(s, date(2026, 11, 24)) == {eid}
        s.get(Hazard, early).state = "closed"
    with transaction(factory) as s:
        assert not status.is_listed(s, eid, date(2026, 11, 24))
    assert late


def test_two_decisions_at_once_make_one(pg_url):
    engine = make_engine(pg_url, pool_size=4, max_overflow=4)
    factory = make_session_factory(engine)
    try:
        world = build_world(factory)
        rejected_twice(factory, world, NOW - timedelta(days=3))
        eid = enterprise_id(factory, world, "coal")
        barrier = threading.Barrier(2, timeout=30)
        results: list[str] = []

        def run(who: str) -> None:
            try:
                with transaction(factory) as s:
                    barrier.wait()
                    decisions.decide(s, world.p(who), eid, quarter="2026-Q4", decision="listed", reason="并发",
                                     now=NOW)
                results.append("ok")
            except Conflict:
                results.append("conflict")

        threads = [threading.Thread(target=run, args=(w,)) for w in ("county_committee", "city_committee")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == ["conflict", "ok"]
        with transaction(factory) as s:
            assert s.query(BlacklistDecision).count() == 1
            assert len(records.trail(s, f"blacklist:{eid}:2026-Q4")) == 1
    finally:
        engine.dispose()
