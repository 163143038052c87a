"""Tables: a header row naming 任务/措施, 责任单位/责任部门 and/or 完成时限 gives the columns; each data row
is one task. Cells are routed by what they contain, with the column as the first guess: a time limit in
the 责任部门 column, units in the 时限 column, task text in a units column are moved where they belong and
the task is flagged `misplaced_cell`. A row without a number continues the task above (a page break);
extra text cells in one row fill the numbered rows that follow empty, or the numbers skipped after it."""

from __future__ import annotations

import re

from services.tasklists import deadlines, lines, units
from services.tasklists.draft import Draft
from services.tasklists.models import CO, LEAD, MISPLACED_CELL

NUMBER, TEXT, UNITS, DEADLINE = "number", "text", "units", "deadline"
_HEADER = [(NUMBER, re.compile(r"^(序号|编号|序|No\.?)$", re.IGNORECASE)),
           (DEADLINE, re.compile(r"时限|完成时间|时间要求|期限|截止")),
           (UNITS, re.compile(r"单位|部门|责任主体|责任人")),
           (TEXT, re.compile(r"任务|措施|内容|事项|工作要求"))]
_NUMBER_CELL = re.compile(r"^(\d{1,3})(?:\s*[.、．])?(?:\s+|(?=[^\d.、．\s]))?(.*)$", re.DOTALL)


def header(cells: list[str]) -> dict[int, tuple[str, str | None]] | None:
    """Column index → (kind, role) if `cells` is a header row, else None."""
    columns: dict[int, tuple[str, str | None]] = {}
    for i, raw in enumerate(cells):
        cell = re.sub(r"\s+", "", raw)
        if not cell or len(cell) > 12:
            continue
        for kind, pattern in _HEADER:
            if pattern.search(cell):
                role = None
                if kind == UNITS:
                    role = LEAD if "牵头" in cell else CO if "配合" in cell else None
                columns[i] = (kind, role)
                break
    kinds = {k for k, _ in columns.values()}
    return columns if TEXT in kinds and (UNITS in kinds or DEADLINE in kinds) else None


def _kind(cell: str, expected: str) -> str:
    if deadlines.looks_like_deadline(cell):
        return DEADLINE
    if expected == TEXT:
        return TEXT
    if units.looks_like_units(cell):
        return UNITS
    return TEXT if expected in (UNITS, "overflow") or len(cell) > 24 else DEADLINE


class TableReader:
    def __init__(self, columns: dict[int, tuple[str, str | None]], section: str, out: list[Draft]) -> None:
        self.columns = columns
        self.section = section
        self.out = out
        self.pending: list[str] = []  # task texts found in surplus cells, waiting for their row
        self.owner: Draft | None = None  # the task whose row held them
        self.last: Draft | None = None

    def row(self, raw: list[str]) -> None:
        cells = [lines.clean(c) for c in raw]
        if not any(cells) or lines.is_separator(cells):
            return
        number_col = next((i for i, (k, _) in self.columns.items() if k == NUMBER), None)
        number, flags = "", []
        if number_col is not None and number_col < len(cells):
            found = _NUMBER_CELL.match(cells[number_col])
            if found and cells[number_col]:
                number = found.group(1)
                if found.group(2).strip():  # the number and the task text share one cell
                    cells = cells[:number_col] + [number, found.group(2).strip()] + cells[number_col + 1:]
                    flags.append(MISPLACED_CELL)
                    cells = self._shifted(cells, number_col)
            elif cells[number_col]:
                cells = cells[:number_col] + [""] + cells[number_col:]
        texts, unit_cells, limits = [], [], []
        for i, cell in enumerate(cells):
            if i == number_col or not cell:
                continue
            expected, role = self.columns.get(i, ("overflow", None))
            text_here = []
            for para in cell.split("\n"):  # paragraphs of one cell may belong to different columns
                kind = _kind(para, expected)
                if kind != expected:
                    flags.append(MISPLACED_CELL)
                if kind == TEXT:
                    text_here.append(para)
                elif kind == UNITS:
                    unit_cells.append((para, role))
                else:
                    limits.append(para)
            if text_here:
                texts.append("\n".join(text_here))
        if not number:
            self._continue(texts, unit_cells, limits, flags)
            return
        self._fill_gap(int(number))
        draft = Draft(section=self.section, number=number)
        if not texts and self.pending:
            texts = [self.pending.pop(0)]
            flags.append(MISPLACED_CELL)
        elif texts:
            self._flush()
        self._put(draft, texts[:1], unit_cells, limits, flags)
        if len(texts) > 1:
            self.pending, self.owner = texts[1:], draft
        self.out.append(draft)
        self.last = draft

    def _shifted(self, cells: list[str], number_col: int) -> list[str]:
        """A merged number+text cell may have pushed the row one column right: drop an empty text cell."""
        after = number_col + 2
        if after < len(cells) and not cells[after] and len(cells) > max(self.columns) + 1:
            return cells[:after] + cells[after + 1:]
        return cells

    def _put(self, draft: Draft, texts, unit_cells, limits, flags) -> None:
        for text in texts:
            draft.add_text(text)
        for cell, role in unit_cells:
            draft.add_units(cell, role)
        for cell in limits:
            if not draft.deadline_raw:
                draft.add_deadline(cell)
        for name in flags:
            draft.flag(name)

    def _continue(self, texts, unit_cells, limits, flags) -> None:
        if self.last is None:
            self.last = Draft(section=self.section, number="")
            self.out.append(self.last)
        self._put(self.last, texts, unit_cells, limits, flags)

    def _fill_gap(self, number: int) -> None:
        if not self.pending or self.last is None or not self.last.number.isdigit():
            return
        missing = list(range(int(self.last.number) + 1, number))
        if missing and len(missing) == len(self.pending):
            for n, text in zip(missing, self.pending):
                draft = Draft(section=self.section, number=str(n), text=text)
                draft.flag(MISPLACED_CELL)
                self.out.append(draft)
                self.last = draft
            self.pending = []

    def _flush(self) -> None:
        """Surplus texts that found no row of their own stay with the task they came in, flagged."""
        if self.pending and self.owner is not None:
            for text in self.pending:
                self.owner.add_text(text)
            self.owner.flag(MISPLACED_CELL)
        self.pending, self.owner = [], None

    def close(self) -> None:
        self._flush()
