"""Names as plans write them → organisations, read from the issuing region (known answers from
services/data/organisations-shanxi.csv)."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from db.engine import read_only
from services.kernel.errors import Invalid
from services.organisations.resolve import RELEVANT_NOTE, Resolver
from tests.services.organisations.support import load, org_id

LVLIANG_COUNTIES = 13   # 141102 … 141182
XINZHOU_COUNTIES = 14   # 140902 … 140981, not 五台山风景名胜区 (a 管委会, not a government)


@pytest.fixture
def shanxi(factory, world):
    load(factory)
    return factory


NAMES = [
    ("141100", "市应急局", "吕梁市应急管理局"),
    ("141100", "吕梁市应急管理局", "吕梁市应急管理局"),
    ("141100", "市应急管理局", "吕梁市应急管理局"),
    ("141100", "市住建局", "吕梁市住房和城乡建设局"),
    ("141100", "市交通局牵头", "吕梁市交通运输局"),
    ("141100", "市 市场监管局", "吕梁市市场监督管理局"),
    ("141100", "市卫健委等", "吕梁市卫生健康委员会"),
    ("141100", "市文旅局按职责分工负责", "吕梁市文化和旅游局"),
    ("141100", "市政府安委办", "吕梁市安全生产委员会办公室"),
    ("141100", "市消防救援支队", "吕梁市消防救援支队"),
    ("141100", "离石区应急管理局", "离石区应急管理局"),  # a full name below the issuer
    ("141100", "省应急厅", "山西省应急管理厅"),  # the level above
    ("141100", "吕梁市经济开发区", "吕梁经济技术开发区管理委员会"),
    ("141102", "市应急局", "吕梁市应急管理局"),  # a county's plan: 市 is the city
    ("141102", "区应急局", "离石区应急管理局"),
    ("141102", "区公安局", "吕梁市公安局离石分局"),
    ("141181", "市应急局", "孝义市应急管理局"),  # 孝义市 is a county-level city: its own 市应急局
    ("140900", "市应急局", "忻州市应急管理局"),
    ("140900", "五台山风景名胜区管委会", "五台山风景名胜区管理委员会"),
]


def test_names_and_aliases(shanxi):
    with read_only(shanxi) as s:
        for region, name, full in NAMES:
            found = Resolver(s, region).resolve(name)
            assert (found.kind, found.org_ids, found.label) == ("org", [org_id(s, full)], full), (region, name)


GROUPS = [
    ("141100", "各县（市、区）政府", LVLIANG_COUNTIES, "离石区人民政府"),
    ("141100", "各县(市、区)政府", LVLIANG_COUNTIES, "汾阳市人民政府"),
    ("141100", "各县（市、区）人民政府", LVLIANG_COUNTIES, "孝义市人民政府"),
    ("141100", "各县市区党委政府", LVLIANG_COUNTIES, "兴县人民政府"),
    ("141100", "各县市区政府", LVLIANG_COUNTIES, "交口县人民政府"),
    ("141100", "各县市区党委政府和园区", LVLIANG_COUNTIES + 1, "吕梁经济技术开发区管理委员会"),
    ("140900", "各县（市、区）政府", XINZHOU_COUNTIES, "原平市人民政府"),
    ("141100", "各乡镇人民政府", 5, "兑镇镇人民政府"),  # 离石区 3, 孝义市 2
    ("141102", "各乡镇人民政府", 3, "坪头乡人民政府"),
    ("141102", "各街道办事处", 6, "滨河街道办事处"),
    ("141102", "各乡镇（街道）", 9, "凤山街道办事处"),
    ("141100", "安委会成员单位", 31, "吕梁市委宣传部"),
    ("141100", "市安委会成员单位", 31, "吕梁市应急管理局"),
    ("141102", "安委会成员单位", 20, "离石区应急管理局"),
    ("141100", "各负有安全监管职责的部门", 21, "吕梁市住房和城乡建设局"),
    ("141100", "市级负有安全监管职责的部门", 21, "吕梁市消防救援支队"),
    ("141100", "县应急管理局", LVLIANG_COUNTIES, "孝义市应急管理局"),  # each county's
    ("141100", "各县市区应急管理局", LVLIANG_COUNTIES, "离石区应急管理局"),
    ("140900", "各开发区（园区）管委会", 2, "忻州经济开发区管理委员会"),
]


def test_group_names(shanxi):
    with read_only(shanxi) as s:
        for region, name, count, one_of in GROUPS:
            found = Resolver(s, region).resolve(name)
            assert found.kind == "group", (region, name)
            assert len(found.org_ids) == count == len(set(found.org_ids)), (region, name)
            assert org_id(s, one_of) in found.org_ids, (region, name)
            assert found.label.endswith(f"（{count}个）"), (region, name)


def test_group_members_are_what_they_say(shanxi):
    with read_only(shanxi) as s:
        resolver = Resolver(s, "141100")
        supervision = resolver.resolve("各负有安全监管职责的部门")
        assert all(resolver.org(i).safety_supervision and resolver.org(i).kind == "department"
                   and resolver.org(i).region_code == "141100" for i in supervision.org_ids)
        assert org_id(s, "吕梁市财政局") not in supervision.org_ids  # a member, but no supervision duty
        assert org_id(s, "吕梁市财政局") in resolver.resolve("安委会成员单位").org_ids
        relevant = resolver.resolve("各有关部门")  # decided: read as the supervising departments, flagged
        assert (relevant.kind, relevant.org_ids, relevant.note) == ("group", supervision.org_ids, RELEVANT_NOTE)
        assert supervision.note == ""


def test_unknown_names_are_not_guessed(shanxi):
    with read_only(shanxi) as s:
        resolver = Resolver(s, "141100")
        for name in ["市公安局交警支队", "地方各级党委和政府", "吕梁应急局", "应急", "", "   ", "市应急局局",
                     "x" * 5000, "市\x00应急局x", "县", "各县"]:
            found = resolver.resolve(name)
            assert (found.kind, found.org_ids) == ("unknown", []), name


def test_a_region_without_organisations_answers_unknown(factory, world):
    with read_only(factory) as s:
        resolver = Resolver(s, "141100")
        assert resolver.resolve("市应急局").kind == "unknown"
        assert resolver.resolve("各县（市、区）政府").kind == "unknown"
        assert resolver.org_id("市应急局") is None
    with read_only(factory) as s, pytest.raises(Invalid):
        Resolver(s, "999999")


def test_three_queries_then_none(shanxi):
    statements: list[str] = []
    with read_only(shanxi) as s:
        bind = s.connection().engine
        listener = lambda *a: statements.append(a[2])  # noqa: E731
        event.listen(bind, "before_cursor_execute", listener)
        try:
            resolver = Resolver(s, "141100")
            loaded = len(statements)
            names = ["市应急局", "各县（市、区）政府", "安委会成员单位", "未知单位", "市应急局"] * 20
            answers = [resolver.resolve(n) for n in names]
            assert resolver.org_id("市应急局") == answers[0].org_ids[0]
        finally:
            event.remove(bind, "before_cursor_execute", listener)
    assert loaded == 3 and len(statements) == 3
    assert answers[0] is answers[4]  # cached per name
