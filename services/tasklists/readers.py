""".txt / .md / .docx / .xlsx → one neutral stream of items: a `str` is a line of text, a `list[str]` is a
table row (tab-separated lines, Word table rows, sheet rows). Every refusal is `Invalid` on field `file`."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from io import BytesIO
from typing import Any

from services.kernel.errors import invalid_field

Item = str | list[str]

MAX_BYTES = 10 * 1024 * 1024          # the file as uploaded
MAX_UNZIPPED = 20 * 1024 * 1024        # .docx / .xlsx: all parts together, unpacked
MAX_ZIP_ENTRIES = 2_000
MAX_RATIO = 200                         # unpacked / packed, per part: beyond this it is a zip bomb
MAX_ITEMS = 50_000                      # lines + rows
MAX_CELLS = 40                          # columns per row we look at
MAX_LINE = 20_000                       # characters kept from one line or cell
EXTENSIONS = (".txt", ".md", ".docx", ".xlsx")


def _refuse(message: str) -> Exception:
    return invalid_field("file", message)


def _bounded(items: Iterator[Item]) -> list[Item]:
    out: list[Item] = []
    for item in items:
        if len(out) >= MAX_ITEMS:
            raise _refuse(f"文件过长：最多读取 {MAX_ITEMS} 行，请拆分后再导入")
        out.append(item)
    return out


def _clip(text: str) -> str:
    return text[:MAX_LINE]


def _decode(content: bytes) -> str:
    if b"\x00" in content[:8192]:
        raise _refuse("文件不是文本文件（含二进制内容），请上传 .txt、.md、.docx 或 .xlsx")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise _refuse("无法识别文件的文字编码，请另存为 UTF-8 后再导入")


def _text_items(content: bytes) -> Iterator[Item]:
    text = _decode(content)
    bad = sum(1 for ch in text[:20000] if ord(ch) < 32 and ch not in "\t\r\n\f")
    if bad > 50:
        raise _refuse("文件内容无法识别（含大量控制字符），请上传正常的文本文件")
    for line in text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n").split("\n"):
        if "\t" in line:
            yield [_clip(c) for c in line.split("\t")[:MAX_CELLS]]
        else:
            yield _clip(line)


def _check_zip(content: bytes, kind: str) -> None:
    if not zipfile.is_zipfile(BytesIO(content)):
        raise _refuse(f"文件不是有效的 {kind} 文件（可能已损坏或扩展名不对）")
    try:
        with zipfile.ZipFile(BytesIO(content)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise _refuse(f"文件不是有效的 {kind} 文件（可能已损坏）") from None
    if len(infos) > MAX_ZIP_ENTRIES:
        raise _refuse(f"{kind} 文件结构异常（部件过多），拒绝读取")
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > 1_000_000 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise _refuse(f"{kind} 文件解压后异常膨胀，疑似压缩炸弹，拒绝读取")
    if total > MAX_UNZIPPED:
        raise _refuse(f"{kind} 文件解压后超过 {MAX_UNZIPPED // 1024 // 1024} MB，请拆分后再导入")


class _Numbering:
    """Word's automatic numbering is not in a paragraph's text: it is written back as "1. " (first
    level) or "（1）" (second level), counted per list."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}

    def prefix(self, paragraph: Any) -> str:
        try:
            p_pr = paragraph._p.pPr
            num_pr = p_pr.numPr if p_pr is not None else None
            if num_pr is not None and num_pr.numId is not None:
                list_id = str(num_pr.numId.val)
                level = int(num_pr.ilvl.val) if num_pr.ilvl is not None else 0
            elif (paragraph.style is not None and paragraph.style.name or "").startswith("List Number"):
                name = paragraph.style.name
                list_id, level = "style", int(name[-1]) - 1 if name[-1].isdigit() else 0
            else:
                return ""
        except (AttributeError, ValueError, TypeError):
            return ""
        for key in [k for k in self.counts if k[0] == list_id and k[1] > level]:
            del self.counts[key]  # a new item at this level restarts the levels below it
        count = self.counts[(list_id, level)] = self.counts.get((list_id, level), 0) + 1
        return f"{count}. " if level == 0 else f"（{count}）"


def _docx_items(content: bytes) -> Iterator[Item]:
    _check_zip(content, ".docx")
    try:
        from docx import Document
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        document = Document(BytesIO(content))
        body = document.element.body
        blocks = list(body.iterchildren())
    except Exception:  # noqa: BLE001 - python-docx raises many kinds on a broken package
        raise _refuse("无法读取该 .docx 文件（文件已损坏或不是 Word 文档）") from None
    numbering = _Numbering()
    for element in blocks:
        tag = element.tag.rsplit("}", 1)[-1]
        if tag == "p":
            paragraph = Paragraph(element, document)
            text = numbering.prefix(paragraph) + paragraph.text
            for line in text.split("\n"):
                yield _clip(line)
        elif tag == "tbl":
            yield ""
            for row in Table(element, document).rows:
                cells, seen = [], []
                for cell in row.cells[:MAX_CELLS]:
                    if any(cell._tc is tc for tc in seen):  # a merged cell comes once per grid column
                        continue
                    seen.append(cell._tc)
                    cells.append(_clip(cell.text))
                yield cells
            yield ""


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return f"{value.year}年{value.month}月{value.day}日"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _clip(str(value))


def _xlsx_items(content: bytes) -> Iterator[Item]:
    _check_zip(content, ".xlsx")
    try:
        from openpyxl import load_workbook

        book = load_workbook(BytesIO(content), data_only=True)
    except Exception:  # noqa: BLE001 - openpyxl raises many kinds on a broken package
        raise _refuse("无法读取该 .xlsx 文件（文件已损坏或不是 Excel 工作簿）") from None
    for sheet in book.worksheets:
        if sheet.max_row > MAX_ITEMS:
            raise _refuse(f"工作表「{sheet.title[:30]}」超过 {MAX_ITEMS} 行，请拆分后再导入")
        fill: dict[tuple[int, int], Any] = {}
        for merged in sheet.merged_cells.ranges:  # a merged cell counts for every row/column it covers
            value = sheet.cell(merged.min_row, merged.min_col).value
            for r in range(merged.min_row, min(merged.max_row, merged.min_row + MAX_ITEMS) + 1):
                for c in range(merged.min_col, min(merged.max_col, merged.min_col + MAX_CELLS) + 1):
                    fill[(r, c)] = value
        yield ""
        for r, row in enumerate(sheet.iter_rows(max_col=min(sheet.max_column, MAX_CELLS)), start=1):
            yield [_cell_text(fill.get((r, c), cell.value)) for c, cell in enumerate(row, start=1)]
        yield ""


def read(content: bytes, filename: str) -> list[Item]:
    name = (filename or "").lower().strip()
    if not name.endswith(EXTENSIONS):
        raise _refuse("只支持 .txt、.md、.docx 和 .xlsx 文件")
    if len(content) > MAX_BYTES:
        raise _refuse(f"文件超过 {MAX_BYTES // 1024 // 1024} MB，请拆分后再导入")
    if not content.strip():
        raise _refuse("文件是空的")
    if name.endswith(".docx"):
        return _bounded(_docx_items(content))
    if name.endswith(".xlsx"):
        return _bounded(_xlsx_items(content))
    return _bounded(_text_items(content))
