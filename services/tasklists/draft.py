"""A task while it is being read, and how it becomes a `Task`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from services.tasklists import deadlines, lines, units
from services.tasklists.models import (
    CO,
    EMPTY_TEXT,
    LEAD,
    MISPLACED_CELL,
    NO_UNITS,
    TRUNCATED,
    Task,
)

TEXT_MAX = 8_000
UNITS_MAX = 4_000
UNIT_CELLS_MAX = 20
DEADLINE_MAX = 400


@dataclass
class Draft:
    section: str
    number: str
    text: str = ""
    title: str = ""
    units_raw: list[tuple[str, str | None]] = field(default_factory=list)
    deadline_raw: str = ""
    flags: list[str] = field(default_factory=list)
    labelled: bool = False  # a units or deadline label/cell has been seen for it
    first_sub: str = ""     # the first (n) subitem inside its text, if any

    def flag(self, name: str) -> None:
        if name not in self.flags:
            self.flags.append(name)

    def add_text(self, line: str) -> None:
        if len(self.text) > TEXT_MAX:  # keep the work bounded: the rest is cut and the task flagged
            self.flag(TRUNCATED)
            return
        self.text = lines.join(self.text, line)

    def add_units(self, cell: str, role: str | None = None) -> None:
        if len(self.units_raw) < UNIT_CELLS_MAX:
            self.units_raw.append((cell[:UNITS_MAX], role))
        else:
            self.flag(TRUNCATED)
        self.labelled = True

    def extend_units(self, line: str) -> None:
        cell, role = self.units_raw[-1]
        self.units_raw[-1] = ((cell + line)[:UNITS_MAX], role)

    def add_deadline(self, cell: str) -> None:
        joined = lines.join(self.deadline_raw, cell) if self.deadline_raw else cell
        self.deadline_raw = joined[:DEADLINE_MAX]
        self.labelled = True


def _trailing_units(text: str) -> tuple[str, str] | None:
    """'…工作。（市应急局牵头，市公安局配合）' → ('…工作。', '市应急局牵头，市公安局配合')."""
    stripped = text.rstrip(" 。.；;")
    if not stripped.endswith(("）", ")")):
        return None
    depth = 0
    for i in range(len(stripped) - 1, -1, -1):
        ch = stripped[i]
        if ch in "）)":
            depth += 1
        elif ch in "（(":
            depth -= 1
            if depth == 0:
                inner = stripped[i + 1:-1]
                if units.looks_like_units(inner) and units.parse(inner)[0]:
                    return text[:i].rstrip(), inner
                return None
    return None


def finish(draft: Draft, year: int) -> Task:
    text = draft.text.strip()
    if not draft.units_raw:
        found = _trailing_units(text)
        if found:
            text, cell = found
            draft.units_raw.append((cell, None))
    all_units, limits = [], []
    for cell, role in draft.units_raw:
        found_units, found_limits = units.parse(cell, role)
        all_units.extend(u for u in found_units if u.name not in {x.name for x in all_units})
        limits.extend(found_limits)
    if any(u.role == LEAD for u in all_units):
        for unit in all_units:
            if unit.role not in (LEAD, CO):
                unit.role = CO
    deadline_text = re.sub(r"\s+", " ", draft.deadline_raw).strip()
    if not deadline_text and limits:
        deadline_text = limits[0]
        draft.flag(MISPLACED_CELL)
    deadline, deadline_flags = deadlines.parse(deadline_text, year)
    if len(text) > TEXT_MAX:
        text = text[:TEXT_MAX]
        draft.flag(TRUNCATED)
    title = draft.title or lines.title_of(text)
    task = Task(section=draft.section, number=draft.number, title=title, text=text,
                units=all_units, deadline=deadline, deadline_text=deadline_text[:200])
    for name in draft.flags + deadline_flags:
        task.flag(name)
    if not all_units:
        task.flag(NO_UNITS)
    if not text:
        task.flag(EMPTY_TEXT)
    return task
