"""Importing a county's enterprises from a list (.xlsx or .csv): `hazard enterprises import`.

Columns are found by their header (first row): 统一社会信用代码, 名称 (or 企业名称), 行政区划 (a
行政区划代码, or a region's exact name; the header 行政区划代码 is accepted too) and 行业 (or 行业领域:
one of `vocab.INDUSTRIES`; the project has no separate industry codes, the Chinese name is the
code the API uses). Two columns are optional (一张表): 行业主管部门 (or 监管部门, 主管部门) and
监管责任人 (or 责任人); a value filled in where the system has none is simply added, a different
value is a change like any other. A CSV may be UTF-8 (with or without BOM) or GB18030 (what Excel saves on a
Chinese Windows), comma- or tab-separated.

Validation comes first and reports every problem with its row number, column and reason: the code
(format and check character, `services.kernel.uscc`), the region (known in the regions table; a name
shared by several regions must be given as a code), the industry, and a code twice in the file.
Each enterprise is then created through `admin.add_enterprise`, the rules of `hazard enterprises
add`.

Importing the same file again changes nothing: a row whose code exists with the same name, region
and industry is "unchanged". One whose code exists with other data is a conflict, reported per
differing column, unless `update`: then the enterprise takes the file's data ("updated"). Like the
ledger import, nothing is written when any row has a problem, unless `partial` (the valid rows go
in); `dry_run` does it all and rolls back. Two imports at once are serialised (an advisory lock on
PostgreSQL, the write lock on SQLite).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO
from typing import Any

import structlog
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from db.engine import UnitOfWork
from db.models import Enterprise, Region
from services.accounts import admin
from services.kernel import regions, uscc
from services.kernel.errors import DomainError
from services.kernel.inputs import control_message
from services.imports.rows import Report, RowProblem, all_or_nothing, cell_text, in_row_order, outcome_note, problems_of
from services.kernel.vocab import INDUSTRIES

log = structlog.get_logger(__name__)

USCC, NAME, REGION, INDUSTRY = "统一社会信用代码", "名称", "行政区划", "行业"
ALIASES = {
    USCC: ("统一社会信用代码", "信用代码", "社会信用代码", "uscc"),
    NAME: ("名称", "企业名称", "单位名称", "name"),
    REGION: ("行政区划", "行政区划代码", "所在地区", "region"),
    INDUSTRY: ("行业", "行业领域", "industry"),
}
DEPARTMENT, OFFICIAL = "行业主管部门", "监管责任人"
OPTIONAL = {
    DEPARTMENT: ("行业主管部门", "监管部门", "主管部门"),
    OFFICIAL: ("监管责任人", "责任人"),
}
SUPERVISION_MAX = admin.SUPERVISION_MAX
_FIELD_COLUMNS = {"uscc": USCC, "name": NAME, "region": REGION, "industry": INDUSTRY}
_LOCK_KEY = 0x454E_5450  # "ENTP": the PostgreSQL advisory lock of enterprise imports
MAX_ROWS = 50_000


@dataclass
class Row:
    number: int
    uscc: str
    name: str
    region: str  # as written: a code or a name
    industry: str
    region_code: str = ""  # resolved
    department: str | None = None  # None: the file has no such column
    official: str | None = None


@dataclass
class ImportReport(Report):
    added: list[dict[str, Any]] = field(default_factory=list)  # row, uscc, name
    updated: list[dict[str, Any]] = field(default_factory=list)  # row, uscc, name, changes
    unchanged: list[dict[str, Any]] = field(default_factory=list)  # row, uscc, name, active

    def as_dict(self) -> dict[str, Any]:
        return self._outcome(added=self.added, updated=self.updated, unchanged=self.unchanged)

    def lines(self) -> list[str]:
        would = "可" if self.dry_run else ""
        note = outcome_note(dry_run=self.dry_run, committed=self.committed)
        head = (f"共 {self.rows} 行：{would}新增 {len(self.added)} 家，{would}更新 {len(self.updated)} 家，"
                f"无变化 {len(self.unchanged)} 家，有误 {self.bad_rows()} 行" + note)
        by_row: list[tuple[int, str]] = []
        by_row += [(a["row"], f"第 {a['row']} 行：{would}新增 {a['name']}（{a['uscc']}）") for a in self.added]
        by_row += [(u["row"], f"第 {u['row']} 行：{would}更新 {u['name']}（{u['uscc']}）："
                    + "；".join(f"{c}由“{old}”改为“{new}”" for c, (old, new) in u["changes"].items()))
                   for u in self.updated]
        by_row += [(u["row"], f"第 {u['row']} 行：无变化 {u['name']}（{u['uscc']}）"
                    + ("" if u["active"] else "，该企业已停用")) for u in self.unchanged]
        return in_row_order(head, by_row + self.problem_lines())


def _text(value: Any) -> str:
    return cell_text(value).strip("\u3000")  # the full-width space a Chinese list pads names with


def _table(content: bytes) -> list[list[Any]]:
    """The first sheet of an .xlsx, or the rows of a CSV; ValueError when neither can be read."""
    if content[:4] == b"PK\x03\x04":
        from openpyxl import load_workbook

        try:
            wb = load_workbook(BytesIO(content), read_only=True, data_only=True)
            rows = [list(r) for r, _ in zip(wb.worksheets[0].iter_rows(values_only=True), range(MAX_ROWS + 2))]
            wb.close()
        except Exception:  # noqa: BLE001 - any unreadable workbook is the same answer to the person
            raise ValueError("无法读取该 .xlsx 文件") from None
        return rows
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            decoded = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValueError("无法识别文件的编码，请另存为 UTF-8 编码的 CSV 或 .xlsx")
    first = decoded.split("\n", 1)[0]
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    try:
        return [r for r, _ in zip(csv.reader(io.StringIO(decoded, newline=""), delimiter=delimiter),
                                  range(MAX_ROWS + 2))]
    except csv.Error:
        raise ValueError("无法读取该 CSV 文件") from None


def read_rows(content: bytes) -> tuple[list[Row], list[RowProblem]]:
    """The data rows by header; an unreadable file or a missing column is a problem of its own."""
    try:
        table = _table(content)
    except ValueError as exc:
        return [], [RowProblem(0, "文件", f"{exc}（支持 .xlsx 和 .csv）")]
    if not table:
        return [], [RowProblem(0, "文件", "文件是空的")]
    header = [_text(h) for h in table[0]]
    where: dict[str, int] = {}
    problems = []
    for column, names in ALIASES.items():
        found = [i for i, h in enumerate(header) if h in names or h.lower() in names]
        if found:
            where[column] = found[0]
        else:
            problems.append(RowProblem(1, column, "缺少必需的列，列名可为："
                                       + "、".join(n for n in names if not n.isascii())))
    if len(problems) == len(ALIASES):  # not one header known: not a list of enterprises at all
        return [], [RowProblem(0, "文件", "未找到表头：第一行应为列名（统一社会信用代码、名称、行政区划、行业）；"
                                         "支持 .xlsx 和 .csv")]
    if problems:
        return [], problems
    for column, names in OPTIONAL.items():
        found = [i for i, h in enumerate(header) if h in names]
        if found:
            where[column] = found[0]
    if len(table) > MAX_ROWS + 1:
        return [], [RowProblem(0, "文件", f"一次最多导入 {MAX_ROWS} 行，请分批导入")]
    rows = []
    for number, values in enumerate(table[1:], start=2):
        cells = {c: _text(values[i]) if i < len(values) else "" for c, i in where.items()}
        if not any(cells.values()):
            continue
        rows.append(Row(number, cells[USCC].upper(), cells[NAME], cells[REGION], cells[INDUSTRY],
                        department=cells.get(DEPARTMENT), official=cells.get(OFFICIAL)))
    return rows, []


@dataclass
class _Regions:
    codes: set[str]
    by_name: dict[str, list[str]]

    @classmethod
    def load(cls, session: Session) -> _Regions:
        by_name: dict[str, list[str]] = {}
        codes = set()
        for code, name in session.execute(select(Region.code, Region.name)):
            codes.add(code)
            by_name.setdefault(name, []).append(code)
        return cls(codes, by_name)

    def resolve(self, written: str) -> tuple[str | None, str | None]:
        """(code, None) or (None, the reason in Chinese)."""
        if written.isascii() and written.isdigit():
            if not regions.valid_code(written):
                return None, "行政区划代码应为6位、9位或12位数字"
            return (written, None) if written in self.codes else (None, f"未知的行政区划代码：{written}")
        same = self.by_name.get(written, [])
        if len(same) == 1:
            return same[0], None
        if same:
            return None, f"名称为“{written}”的行政区划有多个（{'、'.join(sorted(same))}），请填写行政区划代码"
        return None, f"未知的行政区划：{written}（请填写行政区划代码或系统中已有的地区名称）"


def validate(session: Session, rows: list[Row]) -> list[RowProblem]:
    """Every problem of every row, without writing; resolves each valid row's region code."""
    problems: list[RowProblem] = []
    known = _Regions.load(session)
    seen: dict[str, int] = {}
    for row in rows:
        bad: list[RowProblem] = []

        def err(column: str, reason: str, bad: list[RowProblem] = bad, n: int = row.number) -> None:
            bad.append(RowProblem(n, column, reason))

        for column, value in ((USCC, row.uscc), (NAME, row.name), (REGION, row.region), (INDUSTRY, row.industry)):
            if not value:
                err(column, "必填项为空")
            elif control_message(value):
                err(column, control_message(value) or "")
        if row.uscc and not any(p.column == USCC for p in bad):
            reason = uscc.validate(row.uscc)
            if reason:
                err(USCC, reason)
            elif row.uscc in seen:
                err(USCC, f"与第 {seen[row.uscc]} 行重复")
            seen.setdefault(row.uscc, row.number)
        if row.name and len(row.name) > admin.NAME_MAX:
            err(NAME, f"企业名称最多 {admin.NAME_MAX} 个字")
        if row.region and not any(p.column == REGION for p in bad):
            code, reason = known.resolve(row.region)
            if reason:
                err(REGION, reason)
            else:
                row.region_code = code or ""
        for column, value in ((DEPARTMENT, row.department), (OFFICIAL, row.official)):
            if value and control_message(value):
                err(column, control_message(value) or "")
            elif value and len(value) > SUPERVISION_MAX:
                err(column, f"最多 {SUPERVISION_MAX} 个字")
        if row.industry and row.industry not in INDUSTRIES and not any(p.column == INDUSTRY for p in bad):
            err(INDUSTRY, f"未知的行业：{row.industry}；行业应为：" + "、".join(INDUSTRIES))
        problems += bad
    return problems


def _region_shown(session: Session, code: str) -> str:
    region = session.get(Region, code)
    return f"{region.name}（{code}）" if region else code


def _differences(session: Session, ent: Enterprise, row: Row) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    if ent.name != row.name:
        out[NAME] = (ent.name, row.name)
    if ent.region_code != row.region_code:
        out[REGION] = (_region_shown(session, ent.region_code), _region_shown(session, row.region_code))
    if ent.industry != row.industry:
        out[INDUSTRY] = (ent.industry, row.industry)
    for column, old, new in ((DEPARTMENT, ent.supervising_department, row.department),
                             (OFFICIAL, ent.responsible_official, row.official)):
        if new and (old or "") != new:  # an empty cell never erases what is recorded
            out[column] = (old or "", new)
    return out


def _conflicts(changes: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """The changes that need `update`: filling in an empty supervision field does not."""
    return {c: v for c, v in changes.items() if not (c in OPTIONAL and not v[0])}


def _supervision(ent: Enterprise, row: Row) -> None:
    if row.department:
        ent.supervising_department = row.department
    if row.official:
        ent.responsible_official = row.official


def _column_of(field_name: str) -> str:
    return _FIELD_COLUMNS.get(field_name, "—")


def import_rows(session: Session, content: bytes, *, now: datetime, update: bool, partial: bool) -> ImportReport:
    """Validate, then add or update in `session` (which the caller commits or rolls back)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    report = ImportReport()
    rows, report.errors = read_rows(content)
    report.rows = len(rows)
    report.errors += validate(session, rows)
    bad_rows = {e.row for e in report.errors}
    existing = {e.uscc: e for e in session.execute(
        select(Enterprise).where(Enterprise.uscc.in_({r.uscc for r in rows if r.number not in bad_rows}))).scalars()}
    plan: list[tuple[Row, Enterprise | None, dict[str, tuple[str, str]]]] = []
    for row in rows:
        if row.number in bad_rows:
            continue
        ent = existing.get(row.uscc)
        changes = _differences(session, ent, row) if ent is not None else {}
        if _conflicts(changes) and not update:
            report.errors += [RowProblem(row.number, column, f"与系统中已有的企业不一致：系统中为“{old}”，文件中为“{new}”"
                                         "（如以文件为准，请以更新模式导入：--update）")
                              for column, (old, new) in _conflicts(changes).items()]
            continue
        plan.append((row, ent, changes))
    if report.errors and not partial:
        report.errors.sort(key=lambda e: e.row)
        return report
    for row, ent, changes in plan:
        entry = {"row": row.number, "uscc": row.uscc, "name": row.name}
        if ent is None:
            try:
                with session.begin_nested():
                    added = admin.add_enterprise(session, row.uscc, row.name, row.region_code, row.industry, now=now)
                    _supervision(added, row)
                    session.flush()
                report.added.append(entry)
            except DomainError as exc:
                report.errors += problems_of(exc, row.number, _column_of)
        elif changes:
            ent.name, ent.region_code, ent.industry = row.name, row.region_code, row.industry
            _supervision(ent, row)
            session.flush()
            report.updated.append({**entry, "changes": {c: list(v) for c, v in changes.items()}})
        else:
            report.unchanged.append({**entry, "active": ent.active})
    report.errors.sort(key=lambda e: e.row)
    return report


def run(uow: UnitOfWork, content: bytes, *, now: datetime, update: bool = False,
        partial: bool = False, dry_run: bool = False) -> ImportReport:
    """One transaction: committed when every row is valid (or with `partial`), else rolled back;
    always rolled back with `dry_run`."""
    report = all_or_nothing(uow, lambda session: import_rows(session, content, now=now, update=update,
                                                                 partial=partial),
                            dry_run=dry_run, partial=partial)
    if not report.committed:
        report.dry_run = dry_run
        if not dry_run:
            report.added, report.updated = [], []
    log.info("enterprise_import", rows=report.rows, added=len(report.added), updated=len(report.updated),
             unchanged=len(report.unchanged), errors=len(report.errors), committed=report.committed,
             dry_run=dry_run, update=update)
    return report
