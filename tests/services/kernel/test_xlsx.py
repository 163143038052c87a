"""services.kernel.xlsx, the one writer of .xlsx files: typed text stays text (in openpyxl and in real
LibreOffice), refused characters are replaced instead of failing the file, values keep their types,
and no other module under services/ or flows/ builds a Workbook of its own."""

from __future__ import annotations

import ast
from datetime import date, datetime, timezone
from decimal import Decimal
from io import BytesIO
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.utils.exceptions import IllegalCharacterError

from services.kernel import xlsx
from tests.calc import shown

ROOT = Path(__file__).resolve().parents[3]
# Each starts with a character that makes Excel or LibreOffice read typed text as a formula.
LEADING = ["=1+1", "+1+1", "-1+1", "@SUM(1,1)", "\t=1+1", "\r=1+1",
           '=HYPERLINK("http://evil.example/","点击")', "=cmd|' /C calc'!A0"]
REFUSED = "顶板\x01离层\x1b[31m\x00\x08\x0b\x0c\x1f\ufffe"
REFUSED_SHOWN = "顶板\ufffd离层\ufffd[31m" + "\ufffd" * 6
PLAIN = ["主运输巷道顶板离层", "a\nb", "tab\tinside", "#N/A", " =1+1", "1+1", "=", "-"]


def _book(values: list[object], *, fill: str | None = None) -> bytes:
    book = xlsx.Book()
    sheet = book.sheet("测试", [xlsx.Column("内容", 30)])
    for value in values:
        sheet.append([value], fill=fill)
    return book.to_bytes()


def _cells(content: bytes):
    return [row[0] for row in load_workbook(BytesIO(content)).active.iter_rows(min_row=2)]


def test_typed_text_is_a_string_cell_never_a_formula():
    cells = _cells(_book([*LEADING, *PLAIN]))
    for cell, text in zip(cells, [*LEADING, *PLAIN], strict=True):
        assert cell.data_type == "s", text
        assert cell.value == text
    assert all(c.quotePrefix for c in cells[:len(LEADING)])
    # quotePrefix only where it matters: "=" alone is a lead too; " =1+1", "1+1", "#N/A" are not
    assert [c.quotePrefix for c in cells[len(LEADING):]] == [False, False, False, False, False, False, True, True]


def test_refused_characters_are_replaced_not_fatal():
    with pytest.raises(IllegalCharacterError):  # what the naive way does with the same text
        Workbook().active.append([REFUSED])
    assert xlsx.clean_text(REFUSED) == REFUSED_SHOWN
    cells = _cells(_book([REFUSED, "\x01=1+1"]))
    assert [c.value for c in cells] == [REFUSED_SHOWN, "\ufffd=1+1"]
    assert all(c.data_type == "s" for c in cells)


def test_values_keep_their_types():
    aware = datetime(2026, 11, 24, 2, 30, tzinfo=timezone.utc)
    book = xlsx.Book()
    sheet = book.sheet("台账", [xlsx.Column("a", 20), xlsx.Column("b"), xlsx.Column("c", 9)])
    sheet.append([date(2026, 11, 24), aware, 3])
    sheet.append([2.5, Decimal("35.5"), True], fill="F8CBAD")
    sheet.append([False, None, float("nan")])
    ws = load_workbook(BytesIO(book.to_bytes())).active
    rows = list(ws.iter_rows(min_row=2))
    assert rows[0][0].value == datetime(2026, 11, 24) and rows[0][0].is_date
    assert rows[0][0].number_format == "yyyy-mm-dd"
    assert rows[0][1].value == datetime(2026, 11, 24, 10, 30)  # Shanghai wall time
    assert rows[0][1].number_format == "yyyy-mm-dd hh:mm"
    assert [c.value for c in rows[1]] == [2.5, 35.5, "是"] and rows[1][0].data_type == "n"
    assert rows[0][2].value == 3 and rows[0][2].data_type == "n"
    assert [c.value for c in rows[2][:2]] == ["否", None] and rows[2][2].data_type == "s"
    assert all(c.fill.fgColor.rgb.endswith("F8CBAD") for c in rows[1])
    assert not rows[0][0].fill.fgColor.rgb.endswith("F8CBAD")
    header = ws[1]
    assert [c.value for c in header] == ["a", "b", "c"] and all(c.font.bold for c in header)
    assert header[0].fill.fgColor.rgb.endswith("DDE6F0")
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:C4"
    assert ws.column_dimensions["A"].width == 20 and ws.column_dimensions["C"].width == 9


def test_rows_must_match_the_columns():
    book = xlsx.Book()
    sheet = book.sheet("x", [xlsx.Column("a"), xlsx.Column("b")])
    with pytest.raises(ValueError):
        sheet.append(["only one"])
    assert [c.value for c in load_workbook(BytesIO(book.to_bytes())).active[1]] == ["a", "b"]


def test_libreoffice_shows_the_text_not_a_result(tmp_path):
    values = [*LEADING, REFUSED, *PLAIN]
    rows = shown(_book(values), tmp_path)
    assert rows[0] == ["内容"]
    assert [r[0] for r in rows[1:]] == [xlsx.clean_text(v) for v in values]
    assert "2" not in [r[0] for r in rows]


def test_libreoffice_check_catches_a_naive_workbook(tmp_path):
    """The control: the same check fails for a workbook written the naive way."""
    wb = Workbook()
    wb.active.append(["内容"])
    wb.active.append(["=1+1"])
    out = BytesIO()
    wb.save(out)
    assert shown(out.getvalue(), tmp_path, "naive") == [["内容"], ["2"]]


# --- no module builds a workbook but services.kernel.xlsx ---------------------------------------------------


def builds_workbook(source: str) -> list[int]:
    """Lines that import openpyxl's Workbook or name it (`Workbook(...)`, `openpyxl.Workbook`)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("openpyxl"):
            if any(alias.name in ("Workbook", "*") for alias in node.names):
                lines.append(node.lineno)
        elif isinstance(node, ast.Name) and node.id == "Workbook" or (
                isinstance(node, ast.Attribute) and node.attr == "Workbook"):
            lines.append(node.lineno)
    return lines


def test_the_scan_finds_a_workbook_however_it_is_written():
    assert builds_workbook("from openpyxl import Workbook\nWorkbook()")
    assert builds_workbook("from openpyxl import (\n    load_workbook,\n    Workbook,\n)")
    assert builds_workbook("import openpyxl\nwb = openpyxl.Workbook(write_only=True)")
    assert builds_workbook("from openpyxl.workbook.workbook import Workbook as W")
    assert not builds_workbook("from openpyxl import load_workbook\nload_workbook(f)")


def test_only_services_xlsx_builds_a_workbook():
    offenders = []
    for folder in ("services", "app", "flows"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "services" / "kernel" / "xlsx.py":
                continue
            for line in builds_workbook(path.read_text(encoding="utf-8")):
                offenders.append(f"{path.relative_to(ROOT)}:{line}")
            text = path.read_text(encoding="utf-8")
            if "Workbook(" in text:
                offenders.append(f"{path.relative_to(ROOT)}: Workbook(")
    assert offenders == [], f"write .xlsx files through services.kernel.xlsx, not openpyxl directly: {offenders}"
