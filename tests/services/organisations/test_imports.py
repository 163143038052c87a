"""Loading organisations from a CSV: idempotent, all or nothing, refusals with row numbers."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from db.engine import read_only, transaction
from db.models import Organisation, OrganisationAlias
from services.kernel.clock import utcnow
from services.kernel.errors import Invalid
from services.organisations import imports
from tests.services.organisations.support import SHANXI_ROWS, load

HEADER = "名称,类别,行政区划代码,简称或别名,安委会成员,负有安全监管职责,上级单位\n"


def _counts(factory) -> tuple[int, int]:
    with read_only(factory) as s:
        return (s.execute(select(func.count()).select_from(Organisation)).scalar_one(),
                s.execute(select(func.count()).select_from(OrganisationAlias)).scalar_one())


def _load(factory, text: str, **kw):
    with transaction(factory) as s:
        return imports.load(s, imports.parse(text.encode("utf-8"), kw.pop("default_region", None)), now=utcnow(),
                            **kw)


def test_shanxi_twice_changes_nothing(factory, world):
    first = load(factory)
    assert len(first.created) == SHANXI_ROWS and first.unchanged == 0 and first.aliases_added > 1000
    counts = _counts(factory)
    assert counts[0] == SHANXI_ROWS
    again = load(factory)
    assert again.created == [] and again.updated == [] and again.unchanged == SHANXI_ROWS
    assert again.aliases_added == 0 and again.differing == []
    assert _counts(factory) == counts
    with read_only(factory) as s:
        office = s.execute(select(Organisation).where(Organisation.name == "吕梁市安全生产委员会办公室")).scalar_one()
        committee = s.get(Organisation, office.parent_id)
        assert (office.kind, office.region_code, committee.name) == (
            "committee_office", "141100", "吕梁市安全生产委员会")
        town = s.execute(select(Organisation).where(Organisation.name == "信义镇人民政府")).scalar_one()
        assert (town.kind, town.region_code, s.get(Organisation, town.parent_id).name) == (
            "township", "141102", "离石区人民政府")


def test_bad_rows_refused_with_their_row_numbers_and_nothing_written(factory, world):
    text = HEADER + ("吕梁市应急管理局,部门,141100,市应急局,是,是,\n"
                     "吕梁市某某局,局,141100,,是,是,\n"
                     "某县政府,人民政府,999999,,否,否,\n"
                     "吕梁市交通运输局,部门,141100,市应急局,也许,是,\n")
    with pytest.raises(Invalid) as caught:
        _load(factory, text)
    fields = [d["field"] for d in caught.value.details]
    assert fields == ["第 3 行 类别", "第 5 行 安委会成员"]
    assert "未导入任何数据" in caught.value.message
    with pytest.raises(Invalid) as caught:  # rows that read well but do not fit the database
        _load(factory, HEADER + "吕梁市应急管理局,部门,141100,市应急局,是,是,\n"
                                "某县政府,人民政府,999999,,否,否,\n"
                                "吕梁市交通运输局,部门,141100,市应急局,是,是,\n"
                                "吕梁市应急管理局,部门,141100,,是,是,\n"
                                "离石区教育局,部门,141102,,是,是,不存在的政府\n")
    assert [(d["field"], d["message"]) for d in caught.value.details] == [
        ("第 3 行 行政区划代码", "行政区划 999999 不存在"),
        ("第 4 行 简称或别名", "别名“市应急局”已属于本辖区的另一个单位"),
        ("第 5 行 名称", "与第 2 行重复"),
        ("第 6 行 上级单位", "上级单位“不存在的政府”不存在（应在前面的行或已导入）"),
    ]
    assert _counts(factory) == (0, 0)


@pytest.mark.parametrize("text, message", [
    ("name\n应急局\n", "表头缺少列"),
    (HEADER + "吕梁市\x07局,部门,141100,,是,是,\n", "有 1 处错误"),
    (HEADER + "吕" * 101 + ",部门,141100,,是,是,\n", "有 1 处错误"),
    ("", "文件是空的"),
])
def test_malformed_files_are_refused(factory, world, text, message):
    with pytest.raises(Invalid) as caught:
        _load(factory, text)
    assert message in caught.value.message
    assert _counts(factory) == (0, 0)


def test_not_utf8_is_refused():
    with pytest.raises(Invalid, match="UTF-8"):
        imports.parse("名称,类别\n".encode("gbk"))


def test_update_dry_run_and_region_limits(factory, world):
    base = HEADER + "吕梁市应急管理局,部门,141100,市应急局,是,是,\n"
    assert _load(factory, base).created == ["吕梁市应急管理局"]
    changed = HEADER + "吕梁市应急管理局,部门,141100,市应急局、市应急管理局,否,是,\n新机构,其他,141100,,否,否,\n"
    dry = _load(factory, changed, dry_run=True, update=True)
    assert (dry.created, dry.updated, dry.aliases_added) == (["新机构"], ["吕梁市应急管理局"], 1)
    assert _counts(factory) == (1, 1)  # a dry run writes nothing
    kept = _load(factory, changed)
    assert kept.differing == ["第 2 行 吕梁市应急管理局：committee_member"] and kept.updated == []
    assert _counts(factory) == (2, 2)  # the new row and the new alias are added all the same
    done = _load(factory, changed, update=True)
    assert done.updated == ["吕梁市应急管理局"]
    with read_only(factory) as s:
        assert s.execute(select(Organisation.committee_member).where(Organisation.name == "吕梁市应急管理局")
                         ).scalar_one() is False
    with pytest.raises(Invalid) as caught:  # --region: blank cells take it, other regions are refused
        _load(factory, "名称,类别,行政区划代码\n离石区应急管理局,部门,\n忻州市应急管理局,部门,140900\n",
              default_region="141102", within="141102")
    assert [d["field"] for d in caught.value.details] == ["第 3 行 行政区划代码"]
    out = _load(factory, "名称,类别\n离石区应急管理局,部门\n", default_region="141102", within="141102")
    assert out.created == ["离石区应急管理局"]
