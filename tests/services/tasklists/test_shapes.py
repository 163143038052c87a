"""Other shapes a plan comes in, each built here: numbered paragraphs with trailing (units) and a
page-break line split, .md, .docx with paragraphs, .docx with a Word table, .xlsx with merged cells."""

from __future__ import annotations

from datetime import date
from io import BytesIO

import docx
from openpyxl import Workbook

from services.tasklists.extract import extract, resolve, to_json

PARAGRAPHS = """某市2023年安全生产工作要点

一、强化责任落实

1. 严格落实党政领导干部安全生产责任制，开展安全生产巡查。（市安委办牵头，各县（市、区）政府配合）

2. 健全完善安全生产考核办法，将考核结果纳入领导班子

和领导干部实绩考核。（市委组织部、市应急局）

二、深化专项整治

3. 开展危险化学品重大危险源专项检查。（市应急局牵头，市公安局、市交通局和市生态环境局配合）
4. 推进城镇燃气安全排查整治，6月底前完成老旧管网改造。（市住建局）
5. 组织开展安全生产月活动。
"""


def units_of(t):
    return [(u.name, u.role) for u in t.units]


def test_numbered_paragraphs_with_trailing_units_and_no_deadlines():
    tasks = extract(PARAGRAPHS.encode(), filename="要点.txt", year=2023)
    assert [(t.section, t.number) for t in tasks] == [
        ("一、强化责任落实", "1"), ("一、强化责任落实", "2"),
        ("二、深化专项整治", "3"), ("二、深化专项整治", "4"), ("二、深化专项整治", "5")]
    first, second, third, fourth, fifth = tasks
    assert units_of(first) == [("市安委办", "牵头"), ("各县（市、区）政府", "配合")]
    assert first.text == "严格落实党政领导干部安全生产责任制，开展安全生产巡查。"
    # the line broken by a page break is one sentence again, and its units are read
    assert second.text == "健全完善安全生产考核办法，将考核结果纳入领导班子和领导干部实绩考核。"
    assert units_of(second) == [("市委组织部", "负责"), ("市应急局", "负责")]
    assert units_of(third) == [("市应急局", "牵头"), ("市公安局", "配合"), ("市交通局", "配合"), ("市生态环境局", "配合")]
    # no per-task deadline: the plan's year end, flagged
    assert all(t.deadline == date(2023, 12, 31) and "default_deadline" in t.flags for t in tasks)
    assert units_of(fourth) == [("市住建局", "负责")]
    assert fifth.units == [] and fifth.flags == ["default_deadline", "no_units"]


def test_markdown_with_headings_and_labels():
    md = ("## 二、主要任务\n\n### （一）危险化学品\n\n#### 1. 加强密封管理。\n\n**主要措施：**更换老旧阀门。\n\n"
          "**责任单位：**市应急局牵头，市消防救援支队配合\n\n**完成时限：**一季度末\n\n"
          "2. 开展培训。\n\n**责任单位：**市应急局\n\n**完成时限：**长期坚持\n")
    a, b = extract(md.encode(), filename="plan.md", year=2024)
    assert (a.section, a.number, a.title) == ("（一）危险化学品", "1", "加强密封管理")
    assert a.text == "加强密封管理。\n更换老旧阀门。"
    assert units_of(a) == [("市应急局", "牵头"), ("市消防救援支队", "配合")]
    assert a.deadline == date(2024, 3, 31) and a.flags == []
    assert (b.deadline, b.flags) == (date(2024, 12, 31), ["year_long"])


def _docx(build) -> bytes:
    document = docx.Document()
    build(document)
    out = BytesIO()
    document.save(out)
    return out.getvalue()


def test_docx_paragraphs():
    def build(d):
        d.add_paragraph("（一）道路运输")
        d.add_paragraph("1. 开展“百吨王”专项整治。")
        d.add_paragraph("责任单位：市交通局、市公安局交警支队")
        d.add_paragraph("完成时限：2024年6月30日前")
        d.add_paragraph("2. 推进农村公路安全生命防护工程。（市交通局牵头，各县（市、区）人民政府）")
    a, b = extract(_docx(build), filename="方案.docx", year=2024)
    assert (a.section, a.number, a.deadline) == ("（一）道路运输", "1", date(2024, 6, 30))
    assert units_of(a) == [("市交通局", "负责"), ("市公安局交警支队", "负责")]
    assert b.text == "推进农村公路安全生命防护工程。"
    assert units_of(b) == [("市交通局", "牵头"), ("各县（市、区）人民政府", "配合")]
    assert b.flags == ["default_deadline"]


def test_docx_word_table():
    def build(d):
        d.add_paragraph("一、城市建设安全专项整治")
        table = d.add_table(rows=5, cols=4)
        rows = [["序号", "重点任务", "责任单位", "完成时限"],
                ["1", "开展燃气管网排查。", "市住建局（牵头）、市应急管理局", "2024年9月底"],
                ["2", "整治违规电动车充电。", "各县（市、区）政府", "全年"],
                ["", "（2）加强小区巡查。", "街道办事处", ""],
                ["3", "建立隐患台账。", "2024年底前", ""]]
        for r, values in enumerate(rows):
            for c, value in enumerate(values):
                table.cell(r, c).text = value
        d.add_paragraph("二、冶金制造")
    tasks = extract(_docx(build), filename="清单.docx", year=2024)
    assert [t.number for t in tasks] == ["1", "2", "3"]
    one, two, three = tasks
    assert one.section == "一、城市建设安全专项整治"
    assert one.deadline == date(2024, 9, 30) and units_of(one) == [("市住建局", "牵头"), ("市应急管理局", "配合")]
    assert two.text == "整治违规电动车充电。\n（2）加强小区巡查。"  # the row without a number continues it
    assert [u.name for u in two.units] == ["各县（市、区）政府", "街道办事处"]
    assert two.flags == ["year_long"]
    assert three.units == [] and three.deadline == date(2024, 12, 31)
    assert set(three.flags) == {"misplaced_cell", "no_units"}


def test_xlsx_with_merged_cells_and_a_formula():
    book = Workbook()
    sheet = book.active
    sheet.append(["2024年任务清单"])
    sheet.merge_cells("A1:D1")
    sheet.append(["序号", "工作任务", "责任部门", "完成时限"])
    sheet.append([1, "排查尾矿库。", "市应急管理局", "2024年6月底前"])
    sheet.append([2, "检查非煤矿山。", "市自然资源局", None])
    sheet.merge_cells("D3:D4")  # one deadline for two rows
    sheet.append([3, "=B3&B4", "市应急管理局", "下发后30日内"])  # a formula with no cached value
    sheet.append([4.0, "核查安全设施。", None, date(2024, 10, 31)])
    out = BytesIO()
    book.save(out)
    tasks = extract(out.getvalue(), filename="任务.xlsx", year=2024)
    assert [t.number for t in tasks] == ["1", "2", "3", "4"]
    one, two, three, four = tasks
    assert (one.deadline, two.deadline) == (date(2024, 6, 30), date(2024, 6, 30))
    assert [u.name for u in two.units] == ["市自然资源局"]
    assert three.text == "" and "empty_text" in three.flags and three.flags.count("relative_deadline") == 1
    assert four.deadline == date(2024, 10, 31) and "no_units" in four.flags


def test_resolve_sets_org_ids_and_flags_the_unknown():
    tasks = extract(PARAGRAPHS.encode(), filename="要点.txt", year=2023)
    known = {"市安委办": 7, "市应急局": 9}
    resolve(tasks, known.get)
    first = to_json(tasks)["tasks"][0]
    assert first["units"] == [{"name": "市安委办", "role": "牵头", "org_id": 7},
                              {"name": "各县（市、区）政府", "role": "配合", "org_id": None}]
    assert "unresolved_unit" in first["flags"]
    assert "unresolved_unit" not in tasks[4].flags  # no units: nothing to resolve (it is no_units)


def test_docx_automatic_word_numbering():
    def build(d):
        d.add_paragraph("（二）消防")
        d.add_paragraph("开展高层建筑消防整治。（市消防救援支队牵头，市住建局配合）", style="List Number")
        d.add_paragraph("推进电动自行车充电设施建设。（各县（市、区）政府）", style="List Number")
    a, b = extract(_docx(build), filename="方案.docx", year=2024)
    assert [(t.section, t.number) for t in (a, b)] == [("（二）消防", "1"), ("（二）消防", "2")]
    assert units_of(a) == [("市消防救援支队", "牵头"), ("市住建局", "配合")]
    assert units_of(b) == [("各县（市、区）政府", "负责")]


def test_docx_table_with_merged_cells():
    def build(d):
        table = d.add_table(rows=4, cols=4)
        rows = [["序号", "任务", "责任单位", "完成时限"],
                ["1", "排查危化企业。", "市应急管理局", "2024年6月底"],
                ["2", "检查加油站。", "市商务局", ""],
                ["3", "专题：（跨列说明）", "", ""]]
        for r, values in enumerate(rows):
            for c, value in enumerate(values):
                table.cell(r, c).text = value
        table.cell(1, 3).merge(table.cell(2, 3))  # one deadline for rows 1 and 2
        merged = table.cell(3, 1).merge(table.cell(3, 3))  # text across three columns
        merged.text = "专题：（跨列说明）"
    one, two, three = extract(_docx(build), filename="表.docx", year=2024)
    assert one.deadline == two.deadline == date(2024, 6, 30)
    assert [u.name for u in two.units] == ["市商务局"]
    assert three.text == "专题：（跨列说明）" and "misplaced_cell" not in three.flags
