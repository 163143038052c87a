"""Splitting a 责任单位 cell, and reading a 完成时限."""

from __future__ import annotations

from datetime import date

import pytest

from services.tasklists import deadlines, units


def split(cell, role=None):
    found, limits = units.parse(cell, role)
    return [(u.name, u.role) for u in found], limits


@pytest.mark.parametrize("cell, expected", [
    ("市应急局牵头，市公安局、市交通局配合", [("市应急局", "牵头"), ("市公安局", "配合"), ("市交通局", "配合")]),
    ("市能源局牵头、市工信局、国家矿山监察局山西局执法五处配合",
     [("市能源局", "牵头"), ("市工信局", "配合"), ("国家矿山监察局山西局执法五处", "配合")]),
    ("市住建局（牵头），市城管局", [("市住建局", "牵头"), ("市城管局", "配合")]),
    ("市工信局、市住建局督促指导，各企业具体落实", [("市工信局", "负责"), ("市住建局", "负责"), ("各企业", "配合")]),
    ("各县（市、区）政府，市有关部门按职责分工负责", [("各县（市、区）政府", "负责"), ("市有关部门", "负责")]),
    ("市消防救援支队等相关部门按职责分工负责；地方各级党委和政府按辖区负责",
     [("市消防救援支队", "负责"), ("地方各级党委和政府", "负责")]),
    ("市住房和城乡建设局及市交通局", [("市住房和城乡建设局", "负责"), ("市交通局", "负责")]),
    ("市应急管理局和各县（市、区）政府", [("市应急管理局", "负责"), ("各县（市、区）政府", "负责")]),
    ("市、县应急管理局", [("市应急管理局", "负责"), ("县应急管理局", "负责")]),
    ("市交 通局、市市 场监管局 市公安局", [("市交通局", "负责"), ("市市场监管局", "负责"), ("市公安局", "负责")]),
    ("各县（市、区）党委、政府", [("各县（市、区）党委", "负责"), ("各县（市、区）政府", "负责")]),
    ("市应急局、市应急局", [("市应急局", "负责")]),
    ("", []),
])
def test_units(cell, expected):
    assert split(cell)[0] == expected


def test_units_label_role_and_time_limits_inside_the_cell():
    assert split("市城市管理局 市住建局", "牵头")[0] == [("市城市管理局", "牵头"), ("市住建局", "牵头")]
    found, limits = units.parse("市能源局 2022年底前")
    assert [u.name for u in found] == ["市能源局"] and limits == ["2022年底前"]


def test_units_or_text():
    assert units.looks_like_units("市应急局、市公安局")
    assert units.looks_like_units("各级党校（行政学院）")
    assert not units.looks_like_units("(1) 督促企业落实主体责任。")
    assert not units.looks_like_units("落实事故警示教育、通报、督办、约谈、现场会、联合惩戒制度。")


@pytest.mark.parametrize("text, expected, flags", [
    ("2021年12月底", date(2021, 12, 31), []),
    ("6月30日前", date(2023, 6, 30), []),
    ("年底前", date(2023, 12, 31), []),
    ("2022年底前", date(2022, 12, 31), []),
    ("2022 年底前", date(2022, 12, 31), []),
    ("３月底前", date(2023, 3, 31), []),
    ("2月底", date(2023, 2, 28), []),
    ("2024年2月底", date(2024, 2, 29), []),
    ("一季度末", date(2023, 3, 31), []),
    ("第三季度", date(2023, 9, 30), []),
    ("上半年", date(2023, 6, 30), []),
    ("2024年9月份前", date(2024, 9, 30), []),
    ("2022-06-30", date(2022, 6, 30), []),
    ("全年", date(2023, 12, 31), ["year_long"]),
    ("长期坚持", date(2023, 12, 31), ["year_long"]),
    ("电视专题片下发后1个月内", None, ["relative_deadline"]),
    ("自通知印发之日起30日内", None, ["relative_deadline"]),
    ("", date(2023, 12, 31), ["default_deadline"]),
    ("尽快", None, ["unparsed_deadline"]),
    ("13月底", None, ["unparsed_deadline"]),
    ("2月30日", None, ["unparsed_deadline"]),
    ("9999年底", None, ["unparsed_deadline"]),
])
def test_deadlines(text, expected, flags):
    assert deadlines.parse(text, 2023) == (expected, flags)
