"""Writing .xlsx files. This is the only module that builds an openpyxl Workbook (a test holds
services/ and flows/ to it), so every export the service writes, now and later, keeps these rules:

- Text is data, never a formula. Every str goes out as a string cell (data type `s`), whatever it
  starts with: `=1+1` stays the five characters `=1+1` in Excel and LibreOffice, and `#N/A` is not
  an error value. Text starting with = + - @ tab or CR also gets the cell style's quotePrefix, so a
  person who edits such a cell (F2, Enter) keeps it as text instead of turning it into a formula.
- A character the file cannot hold never fails the export. The C0 controls openpyxl refuses
  (U+0000–U+001F except tab, LF and CR) and what XML 1.0 forbids (U+FFFE, U+FFFF, lone
  surrogates) are each replaced by U+FFFD (�), visible in the cell, so one old record with a stray
  ESC marks itself and the file still opens for everyone in scope.
- Dates are real dates (yyyy-mm-dd); a timestamp is shown as Asia/Shanghai wall time (Excel has no
  time zones); int, float and Decimal are numbers (NaN and infinities, which Excel cannot hold,
  become text); True/False are 是/否; None is an empty cell; anything else is written as its str().

Rows are streamed (openpyxl's write-only mode): memory does not grow with the number of rows. The
header row is bold on a pale blue fill and frozen, columns have the given widths, and an auto-filter
covers the header and every row written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from io import BytesIO
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from services.kernel.clock import SHANGHAI

REPLACEMENT = "\ufffd"
# openpyxl's own list (so a newer openpyxl that refuses more is followed), plus what XML 1.0 forbids.
REFUSED = re.compile(f"{ILLEGAL_CHARACTERS_RE.pattern}|[\ud800-\udfff\ufffe\uffff]")
# A cell typed with one of these first would be read as a formula (or a DDE/command in old Excel).
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"

_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDE6F0")
_HEADER_ALIGN = Alignment(horizontal="center", vertical="center")


def clean_text(text: str) -> str:
    """`text` with every character an .xlsx cannot hold replaced by U+FFFD."""
    return REFUSED.sub(REPLACEMENT, text)


def _put(cell: Cell, value: Any) -> Cell:
    """`value` into `cell` by the rules above (streamed and form sheets alike)."""
    if value is None:
        return cell
    if isinstance(value, bool):
        value = "是" if value else "否"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(SHANGHAI).replace(tzinfo=None)
        cell.value, cell.number_format = value, DATETIME_FORMAT
    elif isinstance(value, date):
        cell.value, cell.number_format = value, DATE_FORMAT
    elif isinstance(value, int | Decimal) or (isinstance(value, float) and math.isfinite(value)):
        cell.value = value
    else:
        text = clean_text(value if isinstance(value, str) else str(value))
        cell.value = text  # openpyxl marks "=..." as a formula and "#N/A" as an error here,
        cell.data_type = "s"  # and this makes it a string cell again, whatever it starts with
        if text.startswith(FORMULA_LEADS):
            cell.quotePrefix = True
    return cell


@dataclass(frozen=True)
class Column:
    header: str
    width: float = 12


def _fill(rgb: str) -> PatternFill:
    return PatternFill("solid", fgColor=rgb)


class Sheet:
    """One worksheet: the header row is written on creation, then `append` one row at a time."""

    def __init__(self, book: Book, title: str, columns: Sequence[Column]) -> None:
        if not columns:
            raise ValueError("a sheet needs at least one column")
        self._ws = book._wb.create_sheet(clean_text(title)[:31])
        self._width = len(columns)
        self._rows = 0
        self._fills: dict[str, PatternFill] = {}
        # Write-only sheets take their view and column widths before the first row.
        self._ws.freeze_panes = "A2"
        for i, column in enumerate(columns, start=1):
            self._ws.column_dimensions[get_column_letter(i)].width = column.width
        header = [self._cell(c.header) for c in columns]
        for cell in header:
            cell.font, cell.fill, cell.alignment = _HEADER_FONT, _HEADER_FILL, _HEADER_ALIGN
        self._write(header)

    def append(self, values: Sequence[Any], *, fill: str | None = None) -> None:
        """One row, a value per column; `fill` (an RGB hex such as "F8CBAD") shades the whole row."""
        if len(values) != self._width:
            raise ValueError(f"row has {len(values)} values for {self._width} columns")
        cells = [self._cell(v) for v in values]
        if fill:
            pattern = self._fills.setdefault(fill, _fill(fill))
            for cell in cells:
                cell.fill = pattern
        self._write(cells)

    def _write(self, cells: list[Cell]) -> None:
        self._ws.append(cells)
        self._rows += 1

    def _cell(self, value: Any) -> Cell:
        return _put(WriteOnlyCell(self._ws), value)

    def _finish(self) -> None:
        last = get_column_letter(self._width)
        self._ws.auto_filter.ref = f"A1:{last}{self._rows}"


class Book:
    """A workbook being written: add sheets with `sheet`, then `to_bytes` once."""

    def __init__(self) -> None:
        self._wb = Workbook(write_only=True)
        self._sheets: list[Sheet] = []

    def sheet(self, title: str, columns: Sequence[Column]) -> Sheet:
        sheet = Sheet(self, title, columns)
        self._sheets.append(sheet)
        return sheet

    def to_bytes(self) -> bytes:
        if not self._sheets:
            raise ValueError("a workbook needs at least one sheet")
        for sheet in self._sheets:
            sheet._finish()
        out = BytesIO()
        self._wb.save(out)
        return out.getvalue()


_THIN = Side(style="thin")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_WRAP = Alignment(horizontal="center", vertical="center", wrap_text=True)


class FormSheet:
    """A sheet laid out like a paper form (a title, merged headers, a boxed table, a signature line),
    for the few reports that have an official layout; small, so not streamed. Values go in by the
    same rules as in `Sheet`; the layout is set by row and column numbers (1-based)."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws

    @property
    def rows(self) -> int:
        return self._ws.max_row

    def append(self, values: Sequence[Any]) -> int:
        """A row at the bottom; returns its number."""
        row = self._ws.max_row + 1 if self._ws.max_row > 1 or self._ws["A1"].value is not None else 1
        for col, value in enumerate(values, start=1):
            if value is not None:
                _put(self._ws.cell(row=row, column=col), value)
        return row

    def merge(self, row: int, col: int, last_row: int, last_col: int) -> None:
        self._ws.merge_cells(start_row=row, start_column=col, end_row=last_row, end_column=last_col)

    def title(self, row: int, size: int = 16) -> None:
        cell = self._ws.cell(row=row, column=1)
        cell.font, cell.alignment = Font(size=size, bold=True), _WRAP

    def box(self, first_row: int, last_row: int, columns: int, *, bold_last: bool = False) -> None:
        """Borders and centred, wrapped text over a block; `bold_last`: its last row is a total."""
        for row in self._ws.iter_rows(min_row=first_row, max_row=last_row, max_col=columns):
            for cell in row:
                cell.border, cell.alignment = _BOX, _WRAP
                if bold_last and cell.row == last_row:
                    cell.font = Font(bold=True)

    def widths(self, widths: Sequence[float], *, header_height: float | None = None,
               header_row: int | None = None, freeze: str | None = None) -> None:
        for i, width in enumerate(widths, start=1):
            self._ws.column_dimensions[get_column_letter(i)].width = width
        if header_height and header_row:
            self._ws.row_dimensions[header_row].height = header_height
        if freeze:
            self._ws.freeze_panes = freeze


class FormBook:
    """A workbook of form sheets: `sheet(title)` for each, then `to_bytes` once."""

    def __init__(self) -> None:
        self._wb = Workbook()
        self._wb.remove(self._wb.active)

    def sheet(self, title: str) -> FormSheet:
        return FormSheet(self._wb.create_sheet(clean_text(title)[:31]))

    def to_bytes(self) -> bytes:
        out = BytesIO()
        self._wb.save(out)
        return out.getvalue()
