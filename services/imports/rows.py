"""What both importers share (the ledger, services/imports/ledger.py, and enterprises,
services/imports/enterprises.py): the problem of one row, a cell's text, how a report ends and is
ordered for the person who reads it, and the one transaction that keeps the rows or drops them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from db.engine import UnitOfWork
from services.kernel.errors import DomainError


@dataclass
class RowProblem:
    """One problem of one row (`row` 0: the file itself), named by the column a person sees."""

    row: int
    column: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "reason": self.reason}


def cell_text(value: Any) -> str:
    """A cell as text: an Excel number that is whole loses its `.0`, spaces are trimmed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def problems_of(exc: DomainError, row: int, column_of: Callable[[str], str]) -> list[RowProblem]:
    """A refusal of the service (each field it names, by `column_of(field)`) as the row's problems."""
    if isinstance(exc.details, list) and exc.details:
        return [RowProblem(row, column_of(str(d.get("field", ""))), str(d.get("message", exc.message)))
                for d in exc.details]
    return [RowProblem(row, "—", exc.message)]


def outcome_note(*, dry_run: bool, committed: bool) -> str:
    """What the first line of a report adds: nothing when the rows went in."""
    if dry_run:
        return "（演练：未写入任何数据）"
    return "" if committed else "（未导入任何数据）"


def in_row_order(head: str, by_row: list[tuple[int, str]]) -> list[str]:
    """The head line, then the rows' lines in the file's row order, as the person reads the sheet."""
    return [head] + [line for _, line in sorted(by_row, key=lambda r: r[0])]


@dataclass
class Report:
    """What every import reports: its rows, their problems, and whether it went in; each import
    adds the lists of what it did (`as_dict` extends `_outcome`, `lines` uses `problem_lines`)."""

    rows: int = 0
    errors: list[RowProblem] = field(default_factory=list)
    committed: bool = False
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def _outcome(self, **lists: Any) -> dict[str, Any]:
        return {"ok": self.ok, "committed": self.committed, "dry_run": self.dry_run, "rows": self.rows, **lists,
                "errors": [e.as_dict() for e in self.errors]}

    def bad_rows(self) -> int:
        return len({e.row for e in self.errors})

    def problem_lines(self) -> list[tuple[int, str]]:
        return [(e.row, f"第 {e.row} 行【{e.column}】{e.reason}") for e in self.errors]


R = TypeVar("R", bound=Report)


class _Rollback(Exception):
    pass


def all_or_nothing(uow: UnitOfWork, work: Callable[[Session], R], *, dry_run: bool,
                   partial: bool) -> R:
    """`work`'s report, from one transaction: committed (and marked so) when no row has a problem or
    with `partial`, rolled back otherwise, and always with `dry_run`."""
    report: R | None = None
    try:
        with uow.write() as session:
            report = work(session)
            if dry_run or (report.errors and not partial):
                raise _Rollback
            report.committed = True
    except _Rollback:
        pass
    assert report is not None
    return report
