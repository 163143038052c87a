"""一张表 through the enterprise import: each enterprise's 行业主管部门 and 监管责任人 (optional
columns); filling in what is missing needs no --update, changing what is recorded does; an empty
cell never erases (the admin list: tests/app/web/test_web_admin_supervision.py)."""

from __future__ import annotations

from sqlalchemy import select

from db.engine import UnitOfWork, read_only
from db.models import Enterprise
from services.imports import enterprises as enterprise_import
from tests.conftest import START
from tests.services.imports.test_enterprise_import import GOOD, HEADER, A, B, C, as_csv, as_xlsx

FULL = [*HEADER, "行业主管部门", "监管责任人"]


def supervision(factory) -> dict[str, tuple[str | None, str | None]]:
    with read_only(factory) as s:
        return {e.uscc: (e.supervising_department, e.responsible_official)
                for e in s.execute(select(Enterprise).where(Enterprise.uscc.in_((A, B, C)))).scalars()}


def test_departments_are_imported_filled_in_and_changed_only_with_update(factory, world):
    rows = [[*GOOD[0], "离石区应急管理局", "张伟"], [*GOOD[1], "离石区住建局", ""], [*GOOD[2], "", ""]]
    report = enterprise_import.run(UnitOfWork(factory), as_xlsx(rows, header=FULL), now=START)
    assert report.ok and report.committed and len(report.added) == 3
    assert supervision(factory) == {A: ("离石区应急管理局", "张伟"), B: ("离石区住建局", None), C: (None, None)}
    # A file without the columns leaves them alone; a blank cell never erases.
    assert enterprise_import.run(UnitOfWork(factory), as_xlsx(GOOD), now=START).ok
    assert supervision(factory)[A] == ("离石区应急管理局", "张伟")
    # Filling in what is missing is not a conflict.
    fill = [[*GOOD[1], "", "李娜"], [*GOOD[2], "孝义市应急管理局", "王强"]]
    report = enterprise_import.run(UnitOfWork(factory), as_csv(fill, header=FULL), now=START)
    assert report.ok and report.committed and [u["row"] for u in report.updated] == [2, 3]
    assert supervision(factory)[C] == ("孝义市应急管理局", "王强") and supervision(factory)[B] == ("离石区住建局", "李娜")
    # Changing a recorded department needs --update.
    moved = [[*GOOD[0], "吕梁市能源局", "张伟"]]
    refused = enterprise_import.run(UnitOfWork(factory), as_xlsx(moved, header=FULL), now=START)
    assert not refused.committed and [(e.row, e.column) for e in refused.errors] == [(2, "行业主管部门")]
    assert "离石区应急管理局" in refused.errors[0].reason
    assert enterprise_import.run(UnitOfWork(factory), as_xlsx(moved, header=FULL), now=START, update=True).committed
    assert supervision(factory)[A] == ("吕梁市能源局", "张伟")


def test_bad_supervision_cells_are_named(factory, world):
    rows = [[*GOOD[0], "应急局\x07", "张伟"], [*GOOD[1], "部" * 101, ""]]
    report = enterprise_import.run(UnitOfWork(factory), as_csv(rows, header=FULL), now=START)
    assert not report.committed
    assert [(e.row, e.column) for e in report.errors] == [(2, "行业主管部门"), (3, "行业主管部门")]
    assert "100" in report.errors[1].reason

