"""Bad input never escapes as a traceback: a clear Chinese `Invalid` on field `file` (or `year`), or a
flagged task. The work is bounded (file size, lines, text kept per task)."""

from __future__ import annotations

import random
import time
import zipfile
from io import BytesIO

import pytest
from openpyxl import Workbook

from services.kernel.errors import Invalid
from services.tasklists import readers
from services.tasklists.extract import extract

GOOD = "1. 开展排查。\n责任单位：市应急局\n完成时限：全年\n".encode()


def refused(content, filename="plan.txt", year=2024, field="file") -> str:
    with pytest.raises(Invalid) as caught:
        extract(content, filename=filename, year=year)
    detail = caught.value.details[0]
    assert detail["field"] == field
    assert any("\u4e00" <= ch <= "\u9fff" for ch in detail["message"])  # said in Chinese
    return detail["message"]


def test_kinds_of_file_refused_with_a_reason():
    assert "只支持" in refused(GOOD, filename="plan.pdf")
    assert "只支持" in refused(GOOD, filename="")
    assert "空的" in refused(b"", filename="plan.txt")
    assert "空的" in refused(b" \n\t\n", filename="plan.md")
    assert "二进制" in refused(b"\x00\x01PK\x03\x04" * 10, filename="plan.txt")
    assert "控制字符" in refused(("1. 任务" + "\x01\x02" * 100).encode(), filename="plan.txt")
    assert "没有识别出任务" in refused("这是一段没有编号、没有表格的说明文字。\n".encode())
    assert "年份" in refused(GOOD, year=1900, field="year")
    assert "年份" in refused(GOOD, year=True, field="year")
    assert "文件名" in refused(GOOD, filename=None)


def test_gbk_text_is_read():
    tasks = extract("1. 开展排查。（市应急局）\n".encode("gbk"), filename="plan.txt", year=2024)
    assert [u.name for u in tasks[0].units] == ["市应急局"]


def test_a_docx_that_is_not_a_zip_or_a_zip_bomb(tmp_path):
    assert "不是有效的 .docx" in refused(b"PK\x03\x04 not really a zip" * 20, filename="plan.docx")
    assert "不是有效的 .xlsx" in refused("1. 开展排查。".encode(), filename="plan.xlsx")
    bomb = BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * (5 * 1024 * 1024))
    assert len(bomb.getvalue()) < 100_000
    assert "压缩炸弹" in refused(bomb.getvalue(), filename="plan.docx")
    not_word = BytesIO()
    with zipfile.ZipFile(not_word, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert "无法读取该 .docx" in refused(not_word.getvalue(), filename="plan.docx")
    assert "无法读取该 .xlsx" in refused(not_word.getvalue(), filename="plan.xlsx")


def test_missing_path_and_too_large_file(tmp_path):
    assert "无法读取" in refused(tmp_path / "none.txt", filename=None)
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * (readers.MAX_BYTES + 1))
    assert "超过" in refused(big, filename=None)
    assert "超过" in refused(b"a" * (readers.MAX_BYTES + 1))


def test_too_many_lines_refused_and_huge_lines_cut_and_flagged():
    assert "最多读取" in refused(("1. 任务\n" * (readers.MAX_ITEMS + 1)).encode())
    started = time.monotonic()
    huge = ("1. " + "安" * 2_000_000 + "\n责任单位：" + "市应急局、" * 50_000 + "\n完成时限：" + "年" * 100_000)
    [task] = extract(huge.encode(), filename="plan.txt", year=2024)
    assert len(task.text) <= 8_000 and "truncated" in task.flags
    assert [u.name for u in task.units] == ["市应急局"]
    assert task.deadline is None and "unparsed_deadline" in task.flags
    many = "1. 任务\n" + "继续写。\n" * 40_000
    [long_task] = extract(many.encode(), filename="plan.txt", year=2024)
    assert "truncated" in long_task.flags
    assert time.monotonic() - started < 20


def test_xlsx_formulas_merged_header_and_sheet_junk_do_not_break():
    book = Workbook()
    sheet = book.active
    sheet.append(["序号", "任务", "责任单位", "完成时限"])
    sheet.append(["=1+1", "=NOW()", "=A1", "=TODAY()"])  # formulas, never calculated
    sheet.append([1, "开展排查。", "市应急局", 12345.5])
    sheet.merge_cells("A5:D6")
    out = BytesIO()
    book.save(out)
    tasks = extract(out.getvalue(), filename="plan.xlsx", year=2024)
    assert [t.number for t in tasks] == ["1"]
    assert tasks[0].deadline is None and "unparsed_deadline" in tasks[0].flags


@pytest.mark.parametrize("filename", ["plan.txt", "plan.md", "plan.docx", "plan.xlsx"])
def test_random_bytes_never_escape(filename):
    rng = random.Random(14)
    for size in (1, 17, 500, 5_000):
        content = bytes(rng.randrange(256) for _ in range(size))
        try:
            extract(content, filename=filename, year=2024)
        except Invalid as error:
            assert error.details[0]["field"] == "file"


def test_odd_text_gives_flagged_tasks_not_errors():
    odd = ("序号\t任务\t责任单位\t完成时限\n"
           "1\t\t\t\n"                      # an empty numbered row
           "\t\t\t2024年底前\n"                # a row with only a deadline: continues row 1
           "x\ty\tz\tw\tv\tu\n"               # junk in every column: kept with row 1, flagged
           "999\t<p>开展<b>排查</b></p>\t市应急局（\t13月\n")
    tasks = extract(odd.encode(), filename="plan.txt", year=2024)
    assert [t.number for t in tasks] == ["1", "999"]
    assert tasks[0].deadline.isoformat() == "2024-12-31" and tasks[0].deadline_text == "2024年底前"
    assert "x" in tasks[0].text and "u" in tasks[0].text
    assert set(tasks[0].flags) == {"misplaced_cell", "no_units"}
    assert tasks[1].text == "开展排查" and "unparsed_deadline" in tasks[1].flags
    assert [u.name for u in tasks[1].units] == ["市应急局"]
