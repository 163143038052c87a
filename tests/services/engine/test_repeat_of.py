"""屡查屡犯 (同类): the same enterprise, industry and category of the industry's closed list, within
the 12 months before discovery. An unknown or empty category never matches."""

from __future__ import annotations

from datetime import timedelta

from db.engine import transaction
from db.models import Hazard
from services.engine import transitions
from services.kernel import categories
from services.kernel.clock import local_date
from tests.conftest import START
from tests.helpers import new_hazard


def _registered(factory, world, at, category, *, enterprise="coal", industry="煤矿", region="141102",
                inspector="inspector") -> int:
    hazard_id = new_hazard(factory, world, at, reporter=inspector, industry=industry, region_code=region)
    body = {"level": "general", "enterprise_uscc": world.enterprises[enterprise],
            "deadline": (local_date(at) + timedelta(days=60)).isoformat()}
    if category is not None:
        body["category"] = category
    with transaction(factory) as s:
        transitions.perform(s, world.p(inspector), hazard_id, "register", body, now=at)
    return hazard_id


def _repeat_of(factory, hazard_id):
    with transaction(factory) as s:
        return s.get(Hazard, hazard_id).repeat_of_id


def test_vocabulary_is_closed_per_industry():
    assert categories.is_known("煤矿", "顶板管理")
    assert not categories.is_known("危险化学品", "顶板管理")
    assert not categories.is_known("煤矿", "顶板")
    assert not categories.is_known("煤矿", "")
    assert not categories.is_known("煤矿", None)
    assert "重大危险源" in categories.categories_for("危险化学品")
    assert categories.categories_for("不存在") == ()


def test_same_category_within_twelve_months_matches_the_latest(factory, world):
    first = _registered(factory, world, START - timedelta(days=200), "顶板管理")
    second = _registered(factory, world, START - timedelta(days=100), "顶板管理")
    third = _registered(factory, world, START, "顶板管理")
    assert _repeat_of(factory, first) is None
    assert _repeat_of(factory, second) == first
    assert _repeat_of(factory, third) == second


def test_different_category_does_not_match(factory, world):
    _registered(factory, world, START - timedelta(days=30), "顶板管理")
    later = _registered(factory, world, START, "通风管理")
    assert _repeat_of(factory, later) is None


def test_unknown_or_empty_category_never_matches(factory, world):
    _registered(factory, world, START - timedelta(days=30), "自编类别")
    later = _registered(factory, world, START, "自编类别")  # accepted, but not of the vocabulary
    _registered(factory, world, START - timedelta(days=20), None)
    empty = _registered(factory, world, START, None)
    assert _repeat_of(factory, later) is None
    assert _repeat_of(factory, empty) is None
    with transaction(factory) as s:
        assert s.get(Hazard, later).category == "自编类别"


def test_thirteen_months_ago_does_not_match(factory, world):
    _registered(factory, world, START - timedelta(days=396), "顶板管理")
    later = _registered(factory, world, START, "顶板管理")
    assert _repeat_of(factory, later) is None


def test_another_enterprise_does_not_match(factory, world):
    _registered(factory, world, START - timedelta(days=30), "储罐区", enterprise="chem", industry="危险化学品",
                region="141181", inspector="xiaoyi_inspector")
    later = _registered(factory, world, START, "储罐区", enterprise="coal", industry="危险化学品")
    assert _repeat_of(factory, later) is None
