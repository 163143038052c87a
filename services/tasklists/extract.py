"""A plan document → its tasks. Three shapes are recognised wherever they occur, in any file type:

1. numbered headings (1. / 2、) followed by labelled lines 主要措施： 责任单位： 完成时限：; when the (n)
   subitems of one heading each carry their own labels, each subitem is a task ("3(2)");
2. tables whose header names 任务/措施 and 责任单位/责任部门 and/or 完成时限 (see tables.py);
3. numbered paragraphs ending in the responsible units in parentheses, no deadline (the plan's year end).

Sections are the （一） headings, or the 一、 headings where there are no （一） under them. Lines broken by
page breaks are joined back. Nothing is dropped: a task whose units or deadline cannot be read is kept
and flagged (see models.py for the flags).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from services.kernel.errors import invalid_field
from services.tasklists import lines, readers
from services.tasklists.draft import Draft, finish
from services.tasklists.models import CO, LEAD, NUMBER_GAP, UNRESOLVED_UNIT, Task
from services.tasklists.tables import TableReader, header

MAX_TASKS = 5_000


class _Reader:
    def __init__(self) -> None:
        self.part = ""
        self.section = ""
        self.drafts: list[Draft] = []
        self.current: Draft | None = None   # the task the next plain lines belong to
        self.block: Draft | None = None     # the numbered heading's own task
        self.field = "text"
        self.table: TableReader | None = None

    # -- structure -------------------------------------------------------------------------
    def _close_table(self) -> None:
        if self.table is not None:
            self.table.close()
            self.table = None

    def _end_task(self) -> None:
        self.current = self.block = None
        self.field = "text"

    def _heading(self, part: bool, text: str) -> None:
        self._close_table()
        self._end_task()
        if part:
            self.part = self.section = text
        else:
            self.section = text

    def _numbered(self, number: str, rest: str) -> None:
        self._close_table()
        draft = Draft(section=self.section or self.part, number=number, text=rest, title=lines.title_of(rest))
        self.drafts.append(draft)
        self.current = self.block = draft
        self.field = "text"

    def _subitem(self, number: str, line: str) -> None:
        current = self.current
        if current is None:
            return
        if current.labelled and self.block is not None:
            block = self.block
            if block.first_sub and block.number == current.number and "(" not in block.number:
                block.number = f"{block.number}({block.first_sub})"
            draft = Draft(section=block.section, number=f"{block.number.split('(')[0]}({number})", text=line,
                          title=block.title)
            self.drafts.append(draft)
            self.current = draft
        else:
            if not current.first_sub:
                current.first_sub = number
            current.add_text(line)
        self.field = "text"

    def _label(self, label: str, rest: str) -> None:
        if self.current is None:
            return
        if label in lines.TEXT_LABELS:
            self.field = "text"
            if rest:
                self.current.add_text(rest)
        elif label in lines.DEADLINE_LABELS:
            self.field = "deadline"
            self.current.add_deadline(rest)
        else:
            self.field = "units"
            role = LEAD if label in lines.LEAD_LABELS else CO if label in lines.CO_LABELS else None
            self.current.add_units(rest, role)

    def _plain(self, line: str) -> None:
        current = self.current
        if current is None:
            return
        if (self.field == "units" and current.units_raw
                and not current.units_raw[-1][0].endswith(lines.SENTENCE_END)):
            current.extend_units(line)
            return
        done = current.deadline_raw.endswith(lines.SENTENCE_END)
        if self.field == "deadline" and (not current.deadline_raw or (not done and len(line) <= 30)):
            current.deadline_raw = (current.deadline_raw + line)[:400]
            return
        self.field = "text"
        current.add_text(line)

    # -- items -------------------------------------------------------------------------------
    def line(self, raw: str) -> None:
        for text in lines.clean(raw).split("\n"):
            self._one(text)

    def _one(self, text: str) -> None:
        if not text:
            return
        if (found := lines.LABEL.match(text)) and self.current is not None:
            self._label(found.group(1), found.group(2).strip())
        elif (found := lines.PART.match(text)) and len(text) <= lines.HEADING_MAX:
            self._heading(True, text)
        elif (found := lines.SECTION.match(text)) and len(text) <= 40:
            self._heading(False, text)
        elif found := lines.NUMBERED.match(text):
            self._numbered(found.group(1), found.group(2).strip())
        elif (found := lines.SUBITEM.match(text)) and self.table is None:
            self._subitem(found.group(1), text)
        else:
            self._close_table()
            self._plain(text)

    def row(self, cells: list[str]) -> None:
        filled = [c for c in (lines.clean(c) for c in cells) if c]
        if not filled:
            return
        if len(filled) >= 2 and len(set(filled)) == 1 and header(filled) is None:
            self.line(filled[0])  # one merged cell across the row: a heading or a sentence
            return
        columns = header(cells)
        if columns is not None:
            self._close_table()
            self._end_task()
            self.table = TableReader(columns, self.section or self.part, self.drafts)
        elif self.table is not None:
            self.table.row(cells)
        else:
            self.line(" ".join(filled))

    def finish(self, year: int) -> list[Task]:
        self._close_table()
        tasks = [finish(d, year) for d in self.drafts]
        previous: Task | None = None
        for task in tasks:
            if (previous is not None and previous.section == task.section and previous.number.isdigit()
                    and task.number.isdigit() and int(task.number) > int(previous.number) + 1):
                task.flag(NUMBER_GAP)
            previous = task
        return tasks


def _content(path_or_bytes: bytes | str | os.PathLike) -> bytes:
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return bytes(path_or_bytes)
    path = Path(path_or_bytes)
    try:
        if path.stat().st_size > readers.MAX_BYTES:
            raise invalid_field("file", f"文件超过 {readers.MAX_BYTES // 1024 // 1024} MB，请拆分后再导入")
        return path.read_bytes()
    except OSError:
        raise invalid_field("file", "无法读取该文件，请确认文件存在且可以打开") from None


def extract(path_or_bytes: bytes | str | os.PathLike, *, filename: str | None = None,
            year: int) -> list[Task]:
    """The tasks in one plan document. `year` is the plan's year (年底前, 全年 and missing deadlines)."""
    if isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 2100:
        raise invalid_field("year", "计划年度应为 2000 到 2100 之间的年份")
    if filename is None:
        if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
            raise invalid_field("file", "请提供文件名（用于判断文件类型）")
        filename = Path(path_or_bytes).name
    items = readers.read(_content(path_or_bytes), filename)
    reader = _Reader()
    for item in items:
        if isinstance(item, list):
            reader.row(item)
        else:
            reader.line(item)
    if len(reader.drafts) > MAX_TASKS:
        raise invalid_field("file", f"一个文件最多 {MAX_TASKS} 项任务，请拆分后再导入")
    tasks = reader.finish(year)
    if not tasks:
        raise invalid_field("file", "文件中没有识别出任务：需要编号的任务标题（如“1. …”）及“责任单位：”“完成时限：”，"
                                    "或带“任务”“责任单位”“完成时限”表头的表格")
    return tasks


def resolve(tasks: list[Task], resolver: Callable[[str], int | None]) -> list[Task]:
    """Set each unit's `org_id` from `resolver(name)`; a unit it does not know flags the task."""
    for task in tasks:
        for unit in task.units:
            unit.org_id = resolver(unit.name)
            if unit.org_id is None:
                task.flag(UNRESOLVED_UNIT)
    return tasks


def to_json(tasks: list[Task]) -> dict:
    return {"tasks": [task.as_json() for task in tasks]}
