"""Importing an existing Excel 台账 (e.g. a county moving its spreadsheet in), in the export's columns.

Each row becomes a hazard through the real lifecycle by the named user: `report`, then `register`
when level, enterprise and deadline are given; so every imported hazard has a real, verifiable
audit trail and the lifecycle's own rules (scope, the deadline within a year, ...) apply.

An office moving its running ledger in also has hazards already 挂牌督办, 整改中 or 待验收. Such a
row becomes one `import` event (`creation.import_hazard`): the hazard is created in that state
with the facts the state stands on (listing, plan, acceptance request: the columns of
`RUNNING_COLUMNS`, checked by `bodies.ImportBody`), and the event names the file, sheet and row, so
the trail shows where the history began. Its deadline may already be past; the deadline steps of
the ladder that fell due before the import day are recorded as past in that event (the office
dealt with them on paper), so the ladder goes on from the import day against the imported
deadline instead of issuing a month of 督办函 and 提级 at once. 待销号, 已销号 and 不予立案 rows are
errors: there is nothing left to manage in them here.

A row names its enterprise by 统一社会信用代码 or, without one, by its exact 企业名称 (an unknown or
ambiguous name is an error, as is a code whose enterprise has another name, or a disabled one).

Validation comes first and reports every problem (row number, column header, reason). Nothing is
imported when any row is invalid, unless `partial`: then each valid row is imported under its own
savepoint and the invalid ones are listed. All of it is one transaction (`run`).

Re-importing must not duplicate hazards. A row whose 隐患编号 is a hazard of this system (the
export's own rows) is "already present". Any other row is imported with a marker appended to its
description, `〔台账导入 <key>〕`, where the key is the row's original 隐患编号, or, without one, a
fingerprint of its enterprise, title, location and 发现日期; a row whose key is already on a
hazard is "already present" too. The marker is part of the report event's body, so the trail says
where the hazard came from. The ledger's 发现日期 becomes the hazard's (the report's `discovered_on`),
so a re-export, the dashboard's history and the 屡查屡犯 window see the real date; the audit events
themselves are dated when the import runs, because the trail records when things happened here.
`dry_run` does everything in the transaction and rolls it back: the report says what would happen.
Two imports at once are serialised (an advisory lock on PostgreSQL, the write lock on SQLite), so
a file imported twice concurrently still yields each hazard once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from db.engine import UnitOfWork
from db.models import Hazard, User
from services.accounts.auth import principal_of
from services.calendar.workdays import WorkCalendar
from services.engine import creation, transitions
from services.escalation.ladder import LadderConfig
from services.imports.ledger_sheet import Row, Source, column_of, read_rows
from services.imports.ledger_validation import validate
from services.imports.rows import Report, all_or_nothing, in_row_order, outcome_note, problems_of
from services.kernel.clock import local_date
from services.kernel.errors import DomainError, NotFound
from services.lifecycle.states import STATE_LABELS, State

log = structlog.get_logger(__name__)

_MARKER = re.compile(r"〔台账导入 ([^〕]+)〕")
_LOCK_KEY = 0x4C45_4447  # "LEDG": the PostgreSQL advisory lock of ledger imports


@dataclass
class ImportReport(Report):
    imported: list[dict[str, Any]] = field(default_factory=list)  # row, code, state
    present: list[dict[str, Any]] = field(default_factory=list)  # row, key, code

    def as_dict(self) -> dict[str, Any]:
        return self._outcome(imported=self.imported, already_present=self.present)

    def lines(self) -> list[str]:
        verb = "可导入" if self.dry_run else "导入"
        note = outcome_note(dry_run=self.dry_run, committed=self.committed)
        head = (f"共 {self.rows} 行：{verb} {len(self.imported)} 条，已存在 {len(self.present)} 条，"
                f"有误 {self.bad_rows()} 行" + note)
        by_row: list[tuple[int, str]] = []
        by_row += [(p["row"], f"第 {p['row']} 行：已存在（{p['key']} → {p['code']}）") for p in self.present]
        by_row += self.problem_lines()
        by_row += [(i["row"], f"第 {i['row']} 行：可导入（{STATE_LABELS[State(i['state'])]}）" if self.dry_run
                    else f"第 {i['row']} 行：已导入 {i['code']}（{STATE_LABELS[State(i['state'])]}）")
                   for i in self.imported]
        return in_row_order(head, by_row)


def _existing(session: Session, rows: list[Row]) -> dict[str, str]:
    """Import key -> code of the hazard already holding it (this system's codes, or a marker)."""
    codes = {r.key.removeprefix("原编号 ") for r in rows if r.key.startswith("原编号 ")}
    found = {f"原编号 {c}": c for c in session.execute(select(Hazard.code).where(Hazard.code.in_(codes))).scalars()}
    marked = session.execute(select(Hazard.code, Hazard.description)
                             .where(Hazard.description.contains("〔台账导入 ", autoescape=True)))
    for code, description in marked:
        for m in _MARKER.finditer(description):
            found.setdefault(m.group(1).split("；")[0], code)
    return found


def import_rows(session: Session, content: bytes, username: str, *, now: datetime, partial: bool,
                source: Source | None = None, calendar: WorkCalendar | None = None,
                config: LadderConfig | None = None) -> ImportReport:
    """Validate, then import in `session` (which the caller commits or rolls back)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or not user.active:
        raise NotFound(f"用户不存在或已停用：{username}", code="unknown_user")
    actor = principal_of(user)
    source = source or Source()
    report = ImportReport()
    rows, report.errors = read_rows(content, source)
    report.rows = len(rows)
    report.errors += validate(session, rows, today=local_date(now), source=source, calendar=calendar, config=config)
    bad_rows = {e.row for e in report.errors}
    if bad_rows and not partial:
        report.errors.sort(key=lambda e: e.row)
        return report
    existing = _existing(session, rows)
    for row in rows:
        if row.number in bad_rows:
            continue
        if row.key in existing:
            report.present.append({"row": row.number, "key": row.key, "code": existing[row.key]})
            continue
        try:
            with session.begin_nested():
                if row.running is not None:
                    hazard = creation.import_hazard(session, actor, row.running, now=now)
                else:
                    hazard = creation.report(session, actor, row.report, now=now)
                    if row.register is not None:
                        hazard = transitions.perform(session, actor, hazard.id, "register", row.register, now=now)
                report.imported.append({"row": row.number, "code": hazard.code, "state": hazard.state})
        except DomainError as exc:
            report.errors += problems_of(exc, row.number, column_of)
    report.errors.sort(key=lambda e: e.row)
    return report


def run(uow: UnitOfWork, content: bytes, username: str, *, now: datetime,
        partial: bool = False, dry_run: bool = False, filename: str = "",
        calendar: WorkCalendar | None = None, config: LadderConfig | None = None) -> ImportReport:
    """One transaction: committed when every row went in, or with `partial`; else rolled back.
    `dry_run`: everything is done and then rolled back; the report says what would happen."""
    source = Source(file=(filename.strip() or Source.file)[:200])
    report = all_or_nothing(uow, lambda session: import_rows(
        session, content, username, now=now, partial=partial, source=source, calendar=calendar, config=config),
        dry_run=dry_run, partial=partial)
    if not report.committed:
        if dry_run:
            report.dry_run = True
            report.imported = [{"row": i["row"], "state": i["state"]} for i in report.imported]
        else:
            report.imported = []
    log.info("ledger_import", username=username, rows=report.rows, imported=len(report.imported),
             present=len(report.present), errors=len(report.errors), committed=report.committed,
             dry_run=dry_run)
    return report
