"""The two example plans in app/demo/plans: counts, sections, and the units and deadlines of
specific tasks, including a cell over several lines, a continuation row, misplaced cells, rows merged
into one and a relative deadline."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from services.tasklists.extract import extract, to_json

DATA = Path(__file__).resolve().parents[3] / "app" / "demo" / "plans"


@pytest.fixture(scope="module")
def xinzhou():
    return extract(DATA / "xinzhou-2021-plan.txt", year=2021)


@pytest.fixture(scope="module")
def lvliang():
    return extract(DATA / "lvliang-2022-task-list.txt", year=2022)


def task(tasks, section_start, number):
    found = [t for t in tasks if t.section.startswith(section_start) and t.number == number]
    assert len(found) == 1, (section_start, number, [(t.section, t.number) for t in found])
    return found[0]


def names(t, role=None):
    return [u.name for u in t.units if role is None or u.role == role]


# -- 忻州 2021: numbered headings with 主要措施/责任单位/完成时限 lines ------------------------------

def test_xinzhou_counts_and_sections(xinzhou):
    assert len(xinzhou) == 82
    sections = list(dict.fromkeys(t.section for t in xinzhou))
    assert len(sections) == 16
    assert sections[0] == "（一）学习宣传贯彻习近平总书记关于安全生产重要论述"
    assert sections[2:5] == ["（三）危险化学品", "（四）煤矿", "（五）非煤矿山"]
    assert sections[-1] == "（十六）小场所"
    assert Counter(t.section for t in xinzhou)["（六）消防"] == 21
    flags = Counter(f for t in xinzhou for f in t.flags)
    assert flags == {"year_long": 45, "default_deadline": 9, "no_units": 9, "relative_deadline": 1}
    assert sum(t.needs_review for t in xinzhou) == 10


def test_xinzhou_heading_with_labelled_lines(xinzhou):
    t = task(xinzhou, "（一）", "1")
    assert t.title == "健全完善党委（组）理论学习中心组学习制度"
    assert t.text.startswith("健全完善党委（组）理论学习中心组学习制度。\n将习近平总书记")
    # group names stay whole; "政府"/"管委会" after a 党委/党工委 take its place name
    assert names(t)[:4] == ["各县（市、区）党委", "各县（市、区）政府", "忻州经济开发区党工委", "忻州经济开发区管委会"]
    assert names(t)[-2:] == ["市委组织部", "市应急局"]  # "按职责分工负责" stripped
    assert {u.role for u in t.units} == {"负责"}
    assert (t.deadline, t.deadline_text, t.flags) == (date(2021, 12, 31), "年底前", [])


def test_xinzhou_relative_deadline_kept_as_text(xinzhou):
    t = task(xinzhou, "（一）", "2")
    assert t.deadline is None
    assert t.deadline_text == "电视专题片下发后1个月内"
    assert t.flags == ["relative_deadline"]
    assert names(t)[-1] == "各有关部门和单位"  # 和 joining a group name does not split it


def test_xinzhou_subitems_with_their_own_labels_are_tasks(xinzhou):
    first, second = task(xinzhou, "（一）", "3(1)"), task(xinzhou, "（一）", "3(2)")
    assert first.title == second.title == "健全完善安全生产责任体系"
    assert names(first) == ["市政府安委办"] and first.deadline == date(2021, 6, 30)
    assert names(second)[:3] == ["市教育局", "市公安局", "市住建局"] and names(second)[-1] == "市消防救援支队"
    assert "“一张表”" in second.text and "“一张表”" not in first.text
    # subitems under one set of labels stay one task
    sealed = task(xinzhou, "（三）", "3")
    assert "（1）督促化工" in sealed.text and "（2）剧毒" in sealed.text


def test_xinzhou_lines_broken_by_page_breaks_are_joined(xinzhou):
    t = task(xinzhou, "（二）", "1")
    assert names(t)[-1] == "市级负有安全监管职责的部门"  # "…职责" / "的部门按职责分工负责" on two lines
    assert t.flags == ["year_long"] and t.deadline == date(2021, 12, 31)
    assert "督促指导煤矿、危险化学品、非煤矿山、尾矿库" in task(xinzhou, "（二）", "4").text


def test_xinzhou_lead_and_deadline_forms(xinzhou):
    t = task(xinzhou, "（三）", "1")
    assert [(u.name, u.role) for u in t.units] == [("市应急局", "牵头"), ("各县级应急部门", "配合")]
    assert (t.deadline, t.deadline_text) == (date(2021, 12, 31), "2021 年底前")
    assert task(xinzhou, "（四）", "5").deadline == date(2021, 10, 31)          # 10 月底完成
    assert task(xinzhou, "（十一）", "3").deadline == date(2021, 3, 31)         # 2021年3月底
    assert task(xinzhou, "（十四）", "1").deadline == date(2021, 3, 31)         # 2021年3月
    both = task(xinzhou, "（九）", "5")                                           # 牵头单位：A B
    assert [(u.name, u.role) for u in both.units] == [("市城市管理局", "牵头"), ("市住建局", "牵头")]


def test_xinzhou_numbered_paragraphs_without_labels_are_kept_and_flagged(xinzhou):
    coal = [t for t in xinzhou if t.section == "（四）煤矿"]
    assert [t.number for t in coal] == ["1", "2", "3", "4", "5"]
    for t in coal[:4]:
        assert t.units == [] and t.deadline == date(2021, 12, 31)
        assert t.flags == ["default_deadline", "no_units"]
    assert coal[2].text.endswith("全面加强煤矿顶板管理。") and "回采工作面采空区防灭火措施" in coal[2].text


# -- 吕梁 2022: tables with cells over several lines, slipped cells, continuation rows ---------------

def test_lvliang_counts_and_sections(lvliang):
    assert len(lvliang) == 234
    sections = list(dict.fromkeys(t.section for t in lvliang))
    assert len(sections) == 13
    assert sections[0] == "一、学习宣传贯彻习近平总书记关于安全生产重要论述专题(6条15项)"
    assert sections[-1] == "十三、冶金制造安全专项整治（9条9项）"
    per = Counter(t.section[:3] for t in lvliang)
    assert (per["一、学"], per["二、落"], per["三、危"], per["四、煤"], per["五、非"]) == (6, 24, 25, 29, 17)
    flags = Counter(f for t in lvliang for f in t.flags)
    assert flags == {"default_deadline": 188, "misplaced_cell": 27, "no_units": 26, "empty_text": 5,
                     "number_gap": 2}
    assert sum(t.needs_review for t in lvliang) == 200


def test_lvliang_row_with_units_and_deadline(lvliang):
    t = task(lvliang, "一、", "1")
    assert t.text.startswith("(1) 将学习习近平总书记关于安全生产重要论述纳入")
    assert names(t) == ["市委宣传部", "各负有安全监管职责的部门", "市委组织部", "各县市区党委政府", "各企业"]
    assert (t.deadline, t.deadline_text, t.flags) == (date(2022, 12, 31), "2022年底前", [])


def test_lvliang_continuation_row_after_a_page_break(lvliang):
    t = task(lvliang, "一、", "2")
    assert "(4) 各级各部门各单位要把宣传安全生产先进典型事迹" in t.text
    assert names(t) == ["市委宣传部", "各县市区党委政府", "各级政府安委办及安委会成员单位", "各负有安全监管职责的部门"]
    assert t.flags == ["default_deadline"]


def test_lvliang_cell_with_units_and_then_task_text(lvliang):
    t = task(lvliang, "二、", "7")  # the units cell goes on with a paragraph of task text
    assert names(t)[:2] == ["市教育局", "市人社局"] and names(t)[-1] == "市财政局"
    assert "规模以上企业均应完成自评工作" in t.text
    assert "misplaced_cell" in t.flags and t.deadline == date(2022, 12, 31)


def test_lvliang_deadline_in_the_units_column(lvliang):
    t = task(lvliang, "二、", "24")
    assert (t.units, t.deadline, t.deadline_text) == ([], date(2022, 12, 31), "2022年底前")
    assert set(t.flags) == {"misplaced_cell", "no_units"}
    mixed = task(lvliang, "三、", "25")  # "2022年底前 市、县应急管理局" in one cell
    assert names(mixed) == ["市应急管理局", "县应急管理局"]
    assert mixed.deadline == date(2022, 12, 31) and mixed.flags == ["misplaced_cell"]


def test_lvliang_row_shifted_one_column_right(lvliang):
    t = task(lvliang, "七、", "19")
    assert t.text.startswith("(1) 强化安检人员专业素质培训")
    assert names(t) == ["市交通局"] and "misplaced_cell" in t.flags


def test_lvliang_four_tasks_collapsed_into_one_row_are_split_again(lvliang):
    coal = {t.number: t for t in lvliang if t.section.startswith("四、")}
    assert coal["12"].text.startswith("严格执行国家及省市有关煤矿安全生产举报奖励")
    assert coal["13"].text.startswith("落实事故警示教育")
    assert coal["14"].text.startswith("(1) 按照“谁调查、谁评估”的原则")
    assert coal["15"].text.startswith("(1) 从“一通三防”")
    assert all("misplaced_cell" in coal[n].flags for n in ("12", "13", "14", "15"))
    assert coal["16"].units[0].name == "市能源局" and coal["16"].units[0].role == "牵头"
    assert {u.role for u in coal["16"].units[1:]} == {"配合"}
    assert "number_gap" in coal["29"].flags  # 28 is not in the table


def test_lvliang_empty_numbered_rows_take_the_surplus_texts(lvliang):
    city = {t.number: t for t in lvliang if t.section.startswith("九、")}
    assert city["8"].text.startswith("(1) 直管公房管理单位")
    assert city["9"].text.startswith("(1) 强化“1+N”责任")
    assert city["10"].text.startswith("(3) 施工单位应完善质量安全管理体系")
    for n in ("12", "13", "14"):
        assert city[n].text == "" and set(city[n].flags) == {"empty_text", "no_units", "default_deadline"}


def test_json_has_exactly_the_documented_shape(lvliang):
    body = to_json(lvliang[:1])
    assert list(body) == ["tasks"]
    item = body["tasks"][0]
    assert list(item) == ["section", "number", "title", "text", "units", "deadline", "deadline_text", "flags"]
    assert item["deadline"] == "2022-12-31"
    assert item["units"][0] == {"name": "市委宣传部", "role": "负责", "org_id": None}
