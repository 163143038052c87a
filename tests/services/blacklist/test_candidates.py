"""Candidates for a quarter, per enterprise, with known evidence."""

from __future__ import annotations

from datetime import timedelta

import pytest

from db.engine import transaction
from db.models import Hazard
from services.blacklist import candidates
from services.blacklist.candidates import Thresholds
from services.kernel.clock import local_date
from services.kernel.errors import Invalid
from tests.conftest import START
from tests.services.blacklist.support import listed_major, registered, rejected_twice

TODAY = local_date(START)  # 2026-11-24, in 2026-Q4


def _compute(factory, region="141100", quarter="2026-Q4", **kw):
    with transaction(factory) as s:
        return candidates.compute(s, region, quarter, today=TODAY, **kw)


def _codes(factory, ids):
    with transaction(factory) as s:
        return [s.get(Hazard, i).code for i in ids]


def test_quarter_bounds():
    assert candidates.quarter_bounds("2026-Q4") == (TODAY.replace(month=10, day=1), TODAY.replace(month=12, day=31))
    assert candidates.quarter_bounds("2024-Q1")[1].isoformat() == "2024-03-31"
    for bad in ("2026-Q5", "2026Q4", "", "2026-Q4 ", "x" * 500, "２０２６-Q4"):
        with pytest.raises(Invalid):
            candidates.quarter_bounds(bad)


def test_three_of_one_category_make_a_candidate_with_their_codes(factory, world):
    ids = [registered(factory, world, START - timedelta(days=d), "顶板管理") for d in (300, 100, 10)]
    registered(factory, world, START - timedelta(days=20), "通风管理")
    [cand] = _compute(factory)
    assert cand.name == "离石区金源煤业有限公司"
    assert cand.max_repeats == 2
    [rep] = cand.evidence.repeats
    assert (rep.category, rep.repeats, rep.codes) == ("顶板管理", 2, _codes(factory, ids))
    assert cand.reasons == ["同类隐患12个月内重复出现2次"]


def test_two_of_a_category_or_unknown_ones_or_older_ones_are_not_enough(factory, world):
    registered(factory, world, START - timedelta(days=100), "顶板管理")
    registered(factory, world, START - timedelta(days=10), "顶板管理")
    for d in (30, 20, 10):
        registered(factory, world, START - timedelta(days=d), "自编类别")
    registered(factory, world, START - timedelta(days=400), "通风管理")  # outside the 12 months
    registered(factory, world, START - timedelta(days=20), "通风管理")
    registered(factory, world, START - timedelta(days=10), "通风管理")
    assert _compute(factory) == []
    [cand] = _compute(factory, thresholds=Thresholds(repeats=1))
    assert sorted(r.category for r in cand.evidence.repeats) == ["通风管理", "顶板管理"]


def test_failed_acceptances(factory, world):
    hazard_id = rejected_twice(factory, world, START - timedelta(days=5))
    [cand] = _compute(factory)
    assert cand.failed_acceptances == 2
    assert [e.code for e in cand.evidence.failed_acceptances] == _codes(factory, [hazard_id]) * 2
    assert cand.reasons == ["验收不通过2次"]


def test_listed_major_overdue(factory, world):
    late = listed_major(factory, world, START - timedelta(days=100))  # deadline 40 days ago, open
    listed_major(factory, world, START - timedelta(days=10))  # deadline still ahead
    [cand] = _compute(factory)
    assert cand.evidence.overdue_major == _codes(factory, [late])
    # a past quarter counts what was overdue by its own end: Q3 ended before the deadline
    assert _compute(factory, quarter="2026-Q3") == []


def test_region_scope_and_future_quarter(factory, world):
    for d in (300, 100, 10):
        registered(factory, world, START - timedelta(days=d), "储罐区", enterprise="chem", industry="危险化学品",
                   region="141181", inspector="xiaoyi_inspector")
    assert [c.uscc for c in _compute(factory, region="141181")] == [world.enterprises["chem"]]
    assert _compute(factory, region="141102") == []
    assert _compute(factory, region="140900") == []
    with pytest.raises(Invalid):
        _compute(factory, quarter="2027-Q1")
