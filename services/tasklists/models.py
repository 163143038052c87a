"""What the task-list importer extracts: plain data, no database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

LEAD = "牵头"
CO = "配合"
RESPONSIBLE = "负责"  # named without a 牵头/配合 distinction

# Review flags: every task that a person should look at carries at least one of these.
YEAR_LONG = "year_long"                 # 全年 / 长期坚持: deadline is the plan's year end, monthly reports
RELATIVE_DEADLINE = "relative_deadline"  # 下发后1个月内: kept as text, no date
DEFAULT_DEADLINE = "default_deadline"    # no deadline written: the plan's year end applies
UNPARSED_DEADLINE = "unparsed_deadline"  # something written that is not understood as a date
NO_UNITS = "no_units"
UNRESOLVED_UNIT = "unresolved_unit"
MISPLACED_CELL = "misplaced_cell"        # a table cell sat in the wrong column or row
EMPTY_TEXT = "empty_text"                # a numbered row or heading without any task text
TRUNCATED = "truncated"                  # text longer than we keep
NUMBER_GAP = "number_gap"                # the number before it was skipped: a task may be missing

REVIEW_FLAGS = frozenset({RELATIVE_DEADLINE, DEFAULT_DEADLINE, UNPARSED_DEADLINE, NO_UNITS, UNRESOLVED_UNIT,
                          MISPLACED_CELL, EMPTY_TEXT, TRUNCATED, NUMBER_GAP})


@dataclass
class Unit:
    name: str
    role: str = RESPONSIBLE
    org_id: int | None = None


@dataclass
class Task:
    section: str
    number: str
    title: str
    text: str
    units: list[Unit] = field(default_factory=list)
    deadline: date | None = None
    deadline_text: str = ""
    flags: list[str] = field(default_factory=list)

    def flag(self, name: str) -> None:
        if name not in self.flags:
            self.flags.append(name)

    @property
    def needs_review(self) -> bool:
        return any(f in REVIEW_FLAGS for f in self.flags)

    def as_json(self) -> dict:
        return {"section": self.section, "number": self.number, "title": self.title, "text": self.text,
                "units": [{"name": u.name, "role": u.role, "org_id": u.org_id} for u in self.units],
                "deadline": self.deadline.isoformat() if self.deadline else None,
                "deadline_text": self.deadline_text, "flags": list(self.flags)}
