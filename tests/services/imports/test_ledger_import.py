"""Importing an Excel 台账: validation report, all-or-nothing, --partial, no duplicates on re-import,
the audit trail of imported hazards, and the `hazard import-ledger` command (both backends)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from io import BytesIO

from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from db.engine import UnitOfWork, read_only
from db.models import AuditEvent, Hazard
from services.audit import verification as audit
from services.reads import ledger
from services.imports import ledger as ledger_import
from services.kernel.clock import local_date
from tests.conftest import START
from tests.helpers import drive
from tests.app.cli.test_cli_audit import run_cli  # noqa: F401 - the in-process CLI fixture

TODAY = local_date(START)


def row(world, today: date = TODAY, **over):
    values = {
        "隐患编号": "", "隐患名称": "主井提升机制动闸瓦磨损", "隐患描述": "闸瓦间隙超过 2 毫米。",
        "隐患地点": "主井绞车房", "统一社会信用代码": world.enterprises["coal"], "行政区划代码": "141102",
        "行业领域": "煤矿", "隐患来源": "企业自查", "隐患类别": "机电", "隐患级别": "一般隐患",
        "状态": "", "发现日期": today - timedelta(days=10), "整改期限": today + timedelta(days=30),
    }
    values.update(over)
    return values


def xlsx(rows, headers=ledger.HEADERS, title: str | None = None) -> bytes:
    wb = Workbook()
    ws = wb.active
    if title:
        ws.title = title
    ws.append(list(headers))
    for r in rows:
        ws.append([r.get(h) for h in headers])
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def _count(factory) -> int:
    with read_only(factory) as s:
        return s.execute(select(func.count()).select_from(Hazard)).scalar_one()


def test_valid_file_imports_through_the_lifecycle(factory, world):
    content = xlsx([row(world), row(world, 隐患名称="巷道积水", 隐患级别="", 统一社会信用代码="", 整改期限=None,
                                    隐患来源="监管检查", 状态="待核查")])
    report = ledger_import.run(UnitOfWork(factory), content, "inspector", now=START)
    assert report.ok and report.committed and report.rows == 2
    assert [(i["row"], i["state"]) for i in report.imported] == [(2, "registered"), (3, "reported")]
    with read_only(factory) as s:
        hazard = s.execute(select(Hazard).where(Hazard.code == report.imported[0]["code"])).scalar_one()
        assert hazard.level == "general" and hazard.deadline == TODAY + timedelta(days=30)
        assert "〔台账导入 指纹 " in hazard.description
        # the ledger's 发现日期 is the hazard's; the events are dated when the import ran
        assert local_date(hazard.discovered_at) == TODAY - timedelta(days=10)
        exported = load_workbook(BytesIO(ledger.export_xlsx(s, world.p("inspector"), ledger.parse_query({}),
                                                            now=START))).active
        header = [c.value for c in exported[1]]
        found = {r[header.index("隐患编号")]: r[header.index("发现日期")] for r in exported.iter_rows(min_row=2, values_only=True)}
        assert found[hazard.code].date() == TODAY - timedelta(days=10)
        events = s.execute(select(AuditEvent.action, AuditEvent.actor_name).where(AuditEvent.hazard_id == hazard.id)
                           .order_by(AuditEvent.seq)).all()
        assert [tuple(e) for e in events] == [("report", "inspector"), ("register", "inspector")]
        assert audit.verify(s).ok


def test_one_bad_row_imports_nothing_and_lists_every_problem(factory, world):
    rows = [
        row(world),
        row(world, 隐患名称="", 行政区划代码="149999", 发现日期="2026-02-30"),
        row(world, 统一社会信用代码="91141102MA0HRD9998", 隐患级别="特大", 整改期限=TODAY - timedelta(days=20)),
        row(world, 状态="已销号"),
        row(world, 隐患级别="", 统一社会信用代码=""),
    ]
    report = ledger_import.run(UnitOfWork(factory), xlsx(rows), "inspector", now=START)
    assert not report.ok and not report.committed and report.imported == []
    problems = {(e.row, e.column) for e in report.errors}
    assert {(3, "隐患名称"), (3, "行政区划代码"), (3, "发现日期"), (4, "统一社会信用代码"), (4, "隐患级别"),
            (4, "整改期限"), (5, "状态"), (6, "隐患级别"), (6, "统一社会信用代码")} <= problems
    assert 2 not in {e.row for e in report.errors}
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in e.reason) for e in report.errors)
    assert _count(factory) == 0


def test_a_lifecycle_refusal_rolls_back_the_whole_file(factory, world):
    # valid as a row, but the lifecycle refuses a deadline more than a year away
    rows = [row(world), row(world, 隐患名称="另一条", 整改期限=TODAY + timedelta(days=400))]
    report = ledger_import.run(UnitOfWork(factory), xlsx(rows), "inspector", now=START)
    assert not report.committed and [(e.row, e.column) for e in report.errors] == [(3, "整改期限")]
    assert _count(factory) == 0


def test_partial_imports_the_valid_rows(factory, world):
    rows = [row(world), row(world, 行业领域="采矿"), row(world, 隐患名称="第三条"),
            row(world, 隐患名称="第四条", 整改期限=TODAY + timedelta(days=400))]
    report = ledger_import.run(UnitOfWork(factory), xlsx(rows), "inspector", now=START, partial=True)
    assert report.committed and not report.ok
    assert [i["row"] for i in report.imported] == [2, 4]
    assert sorted({e.row for e in report.errors}) == [3, 5]
    assert _count(factory) == 2
    with read_only(factory) as s:
        assert audit.verify(s).ok


def test_reimport_does_not_duplicate(factory, world):
    content = xlsx([row(world), row(world, 隐患编号="LEGACY-2025-17", 隐患名称="旧台账条目")])
    first = ledger_import.run(UnitOfWork(factory), content, "inspector", now=START)
    assert len(first.imported) == 2
    second = ledger_import.run(UnitOfWork(factory), content, "inspector", now=START)
    assert second.ok and second.imported == []
    assert "原编号 LEGACY-2025-17" in {p["key"] for p in second.present}
    assert {p["code"] for p in second.present} == {i["code"] for i in first.imported}
    assert _count(factory) == 2


def test_rows_exported_from_this_system_are_already_present(factory, world):
    drive(factory, world, START, "registered")
    with read_only(factory) as s:
        content = ledger.export_xlsx(s, world.p("inspector"), ledger.LedgerQuery(), now=START)
    report = ledger_import.run(UnitOfWork(factory), content, "inspector", now=START)
    assert report.ok and report.imported == [] and len(report.present) == 1
    assert _count(factory) == 1


def test_duplicate_rows_within_a_file_and_missing_columns(factory, world):
    same = row(world, 隐患编号="X-1")
    report = ledger_import.run(UnitOfWork(factory), xlsx([same, same]), "inspector", now=START)
    assert [(e.row, e.column) for e in report.errors] == [(3, "隐患编号")]
    report = ledger_import.run(UnitOfWork(factory), xlsx([row(world)], headers=("隐患名称", "隐患描述")), "inspector", now=START)
    assert {e.column for e in report.errors} >= {"隐患地点", "发现日期"} and not report.committed
    report = ledger_import.run(UnitOfWork(factory), b"not a spreadsheet", "inspector", now=START)
    assert report.errors[0].column == "文件"


def test_cli_import_ledger(run_cli, world, factory, tmp_path):
    today = date.today()  # the command runs on the real clock
    good, bad = row(world, today), row(world, today, 隐患名称="坏行", 行政区划代码="999999")
    path = tmp_path / "ledger.xlsx"
    path.write_bytes(xlsx([good, bad]))
    code, out, _ = run_cli("import-ledger", str(path), "--username", "inspector")
    assert code == 1 and "第 3 行【行政区划代码】未知的行政区划代码" in out and "未导入任何数据" in out
    assert _count(factory) == 0
    code, out, _ = run_cli("import-ledger", str(path), "--username", "inspector", "--partial", "--json")
    data = json.loads(out)
    assert code == 1 and data["committed"] and len(data["imported"]) == 1
    assert data["errors"] == [{"row": 3, "column": "行政区划代码", "reason": "未知的行政区划代码：999999"}]
    path.write_bytes(xlsx([bad, good]))
    code, out, _ = run_cli("import-ledger", str(path), "--username", "inspector", "--partial")
    lines = out.strip().splitlines()  # the report follows the sheet's rows: 2 (the bad one), then 3
    assert lines[1].startswith("第 2 行【行政区划代码】") and lines[2].startswith("第 3 行：已存在")
    path.write_bytes(xlsx([good]))
    code, out, _ = run_cli("import-ledger", str(path), "--username", "inspector")
    assert code == 0 and "已存在" in out
    assert _count(factory) == 1
    code, _, err = run_cli("import-ledger", str(path), "--username", "nobody")
    assert code == 2 and "用户不存在" in err
