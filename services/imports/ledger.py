"""Importing an existing Excel 台账 (e.g. a county moving its spreadsheet in), in the export's columns.

Each row becomes a hazard through the real lifecycle by the named user: `report`, then `register`
when level, enterprise and deadline are given; so every imported hazard has a real, verifiable
audit trail and the lifecycle's own rules (scope, the deadline within a year, ...) apply.

An office moving its running ledger in also has hazards already 挂牌督办, 整改中 or 待验收. Such a
row becomes one `import` event (`transitions.import_hazard`): the hazard is created in that state
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

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from io import BytesIO
from typing import Any

import structlog
from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session, sessionmaker

from db.engine import transaction
from db.models import Enterprise, Hazard, Region, User
from services.engine import transitions
from services.kernel import uscc
from services.accounts.auth import principal_of
from services.lifecycle.bodies import ImportBody
from services.calendar.workdays import WorkCalendar, default_calendar
from services.kernel.clock import local_date
from services.kernel.errors import DomainError, Invalid, NotFound
from services.escalation.ladder import DEADLINE_STEPS, LadderConfig, configured_ladder, cutoffs
from services.reads.ledger import HEADERS
from services.lifecycle.table import STATE_LABELS, State
from services.kernel.validation import parse
from services.kernel.vocab import INDUSTRIES, LEVELS, LISTING_LEVELS, SOURCES

log = structlog.get_logger(__name__)

REQUIRED = ("隐患名称", "隐患描述", "隐患地点", "行政区划代码", "行业领域", "隐患来源", "发现日期")
REGISTER_COLUMNS = ("隐患级别", "统一社会信用代码", "整改期限")
_LEVELS = {**{v: k for k, v in LEVELS.items()}, "一般": "general", "重大": "major", **{k: k for k in LEVELS}}
_SOURCES = {**{v: k for k, v in SOURCES.items()}, **{k: k for k in SOURCES}}
RUNNING = (State.SUPERVISED, State.RECTIFYING, State.ACCEPTANCE_REQUESTED)
_STATES = {STATE_LABELS[State.REPORTED]: "reported", "待核查": "reported", "reported": "reported",
           STATE_LABELS[State.REGISTERED]: "registered", "已登记": "registered", "registered": "registered",
           "已登记(限期整改)": "registered",  # as ledgers exported before the label took full-width brackets
           **{STATE_LABELS[s]: s.value for s in RUNNING}, **{s.value: s.value for s in RUNNING}}
# Besides the export's columns: what a running hazard's state stands on (the export has 挂牌级别,
# 整改责任人 and 停产整顿 already). Dates as dates or YYYY-MM-DD, money in 万元.
RUNNING_COLUMNS = ("挂牌日期", "方案报送期限", "整改措施", "整改资金（万元）", "整改时限", "应急预案", "方案报送日期",
                   "验收申请日期", "实际投入资金（万元）")
_READ = frozenset(HEADERS) | frozenset(RUNNING_COLUMNS)
_DATE_COLUMNS = {"挂牌日期": "listed_on", "方案报送期限": "plan_due", "整改时限": "time_limit",
                 "方案报送日期": "plan_filed_on", "验收申请日期": "acceptance_requested_on"}
_TEXT_COLUMNS = {"整改责任人": "responsible_person", "整改措施": "measures", "应急预案": "contingency_plan",
                 "整改资金（万元）": "funds_wan", "实际投入资金（万元）": "funds_spent_wan"}
_LISTINGS = {**{v: k for k, v in LISTING_LEVELS.items()}, **{k: k for k in LISTING_LEVELS},
             "县": "county", "市": "city", "省": "province"}
_YES_NO = {"是": True, "否": False, "yes": True, "no": False, "true": True, "false": False, "1": True, "0": False}
_FIELD_COLUMNS = {"title": "隐患名称", "description": "隐患描述", "location": "隐患地点", "region_code": "行政区划代码",
                  "industry": "行业领域", "source": "隐患来源", "enterprise_uscc": "统一社会信用代码",
                  "level": "隐患级别", "deadline": "整改期限", "category": "隐患类别",
                  "discovered_on": "发现日期", "state": "状态", "listing_level": "挂牌级别",
                  "suspend_production": "停产整顿",
                  **{f: c for c, f in _DATE_COLUMNS.items()}, **{f: c for c, f in _TEXT_COLUMNS.items()}}
_MARKER = re.compile(r"〔台账导入 ([^〕]+)〕")
_LOCK_KEY = 0x4C45_4447  # "LEDG": the PostgreSQL advisory lock of ledger imports


@dataclass
class RowProblem:
    row: int
    column: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "reason": self.reason}


@dataclass
class ImportReport:
    rows: int = 0
    imported: list[dict[str, Any]] = field(default_factory=list)  # row, code, state
    present: list[dict[str, Any]] = field(default_factory=list)  # row, key, code
    errors: list[RowProblem] = field(default_factory=list)
    committed: bool = False
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "committed": self.committed, "dry_run": self.dry_run, "rows": self.rows,
                "imported": self.imported, "already_present": self.present,
                "errors": [e.as_dict() for e in self.errors]}

    def lines(self) -> list[str]:
        if self.dry_run:
            tail = "（演练：未写入任何数据）"
        else:
            tail = "" if self.committed else "（未导入任何数据）"
        verb = "可导入" if self.dry_run else "导入"
        out = [f"共 {self.rows} 行：{verb} {len(self.imported)} 条，已存在 {len(self.present)} 条，"
               f"有误 {len({e.row for e in self.errors})} 行" + tail]
        by_row: list[tuple[int, str]] = []  # in the file's row order, as the person reads the sheet
        by_row += [(p["row"], f"第 {p['row']} 行：已存在（{p['key']} → {p['code']}）") for p in self.present]
        by_row += [(e.row, f"第 {e.row} 行【{e.column}】{e.reason}") for e in self.errors]
        by_row += [(i["row"], f"第 {i['row']} 行：可导入（{STATE_LABELS[State(i['state'])]}）" if self.dry_run
                    else f"第 {i['row']} 行：已导入 {i['code']}（{STATE_LABELS[State(i['state'])]}）")
                   for i in self.imported]
        return out + [line for _, line in sorted(by_row, key=lambda r: r[0])]


@dataclass
class Row:
    number: int
    values: dict[str, Any]
    key: str = ""
    report: dict[str, Any] = field(default_factory=dict)
    register: dict[str, Any] | None = None
    running: dict[str, Any] | None = None  # the `import` action's body (挂牌督办, 整改中, 待验收)


@dataclass
class Source:
    """Where the rows come from, named in each `import` event."""

    file: str = "台账.xlsx"
    sheet: str = ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text_value = _text(value).replace("/", "-").replace(".", "-")
    return date.fromisoformat(text_value) if text_value else None


def read_rows(content: bytes, source: Source | None = None) -> tuple[list[Row], list[RowProblem]]:
    """The data rows of the first sheet, by header; a missing required column is one problem.
    `source.sheet` is set to the sheet's name."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(BytesIO(content), read_only=True, data_only=True)
        sheet = wb.worksheets[0]
    except Exception:  # noqa: BLE001 - any unreadable file is the same answer to the person
        return [], [RowProblem(0, "文件", "无法读取该文件，请提供 .xlsx 格式的台账")]
    if source is not None:
        source.sheet = sheet.title
    it = sheet.iter_rows(values_only=True)
    header = [_text(h) for h in next(it, ())]
    missing = [h for h in REQUIRED if h not in header]
    if missing:
        return [], [RowProblem(1, h, "缺少必需的列") for h in missing]
    rows = []
    for number, values in enumerate(it, start=2):
        if all(_text(v) == "" for v in values):
            continue
        rows.append(Row(number, {h: v for h, v in zip(header, values, strict=False) if h in _READ}))
    wb.close()
    return rows, []


def _fingerprint(v: dict[str, Any], found: date | None) -> str:
    parts = [_text(v.get(h)).upper() for h in ("统一社会信用代码", "隐患名称", "隐患地点")]
    digest = hashlib.sha256("\x1f".join([*parts, str(found)]).encode()).hexdigest()[:16]
    return f"指纹 {digest}"


@dataclass
class _Enterprises:
    """The enterprises the file names, by code and by name, read once."""

    by_uscc: dict[str, Enterprise]
    by_name: dict[str, list[Enterprise]]

    @classmethod
    def load(cls, session: Session, rows: list[Row]) -> _Enterprises:
        codes = {_text(r.values.get("统一社会信用代码")).upper() for r in rows} - {""}
        names = {_text(r.values.get("企业名称")) for r in rows} - {""}
        found = list(session.execute(select(Enterprise).where(
            or_(Enterprise.uscc.in_(codes), Enterprise.name.in_(names)))).scalars()) if codes or names else []
        by_name: dict[str, list[Enterprise]] = {}
        for ent in found:
            by_name.setdefault(ent.name, []).append(ent)
        return cls({e.uscc: e for e in found}, by_name)

    def match(self, code: str, name: str, err) -> Enterprise | None:
        """The row's enterprise by code, else by exact name; `err(column, reason)` otherwise."""
        ent = None
        if code:
            reason = uscc.validate(code)
            if reason:
                err("统一社会信用代码", reason)
                return None
            ent = self.by_uscc.get(code)
            if ent is None:
                err("统一社会信用代码", f"系统中没有该统一社会信用代码的企业：{code}")
                return None
            if name and name != ent.name:
                err("企业名称", f"与统一社会信用代码 {code} 的企业名称不符：系统中为“{ent.name}”")
                return None
        elif name:
            same = self.by_name.get(name, [])
            if not same:
                err("企业名称", f"系统中没有名称为“{name}”的企业，请填写统一社会信用代码或先导入企业")
                return None
            if len(same) > 1:
                err("企业名称", f"系统中有 {len(same)} 家企业名称均为“{name}”，请填写统一社会信用代码以区分")
                return None
            ent = same[0]
        if ent is not None and not ent.active:
            err("统一社会信用代码" if code else "企业名称", f"{ent.name}已停用，不能导入新的隐患")
            return None
        return ent


def _ladder_past(deadline: date, today: date, calendar: WorkCalendar, config: LadderConfig) -> list[str]:
    """The deadline steps that fell due before `today` (the ladder's own rule, as of yesterday)."""
    cut = cutoffs(today - timedelta(days=1), calendar, config)
    return [s.name for s in DEADLINE_STEPS if deadline <= cut.deadline[s]]


def validate(session: Session, rows: list[Row], *, today: date, source: Source | None = None,
             calendar: WorkCalendar | None = None, config: LadderConfig | None = None) -> list[RowProblem]:
    """Check every row without writing; fills each valid row's action bodies and import key."""
    source = source or Source()
    problems: list[RowProblem] = []
    known_regions = set(session.execute(select(Region.code)).scalars())
    enterprises = _Enterprises.load(session, rows)
    seen: dict[str, int] = {}
    for row in rows:
        v, bad = row.values, []

        def err(column: str, reason: str, bad: list[RowProblem] = bad, n: int = row.number) -> None:
            bad.append(RowProblem(n, column, reason))

        for h in REQUIRED:
            if _text(v.get(h)) == "":
                err(h, "必填项为空")
        region = _text(v.get("行政区划代码"))
        if region and region not in known_regions:
            err("行政区划代码", f"未知的行政区划代码：{region}")
        industry = _text(v.get("行业领域"))
        if industry and industry not in INDUSTRIES:
            err("行业领域", "行业领域应为：" + "、".join(INDUSTRIES))
        source_text = _text(v.get("隐患来源"))
        if source_text and source_text not in _SOURCES:
            err("隐患来源", "隐患来源应为：" + "、".join(SOURCES.values()))
        dates: dict[str, date | None] = {}
        for h in ("发现日期", "整改期限", *_DATE_COLUMNS):
            try:
                dates[h] = _day(v.get(h))
            except ValueError:
                dates[h] = None
                err(h, "日期格式不正确，应为 YYYY-MM-DD 或 Excel 日期")
        found, deadline = dates["发现日期"], dates["整改期限"]
        if found and found > today:
            err("发现日期", "发现日期不能晚于今天")
        elif found and found < today - transitions.EARLIEST_DISCOVERY:
            err("发现日期", "发现日期不能早于五年前")
        if found and deadline and deadline <= found:
            err("整改期限", "整改期限应晚于发现日期")
        code = _text(v.get("统一社会信用代码")).upper()
        name = _text(v.get("企业名称"))
        ent = enterprises.match(code, name, err)
        level_text = _text(v.get("隐患级别"))
        if level_text and level_text not in _LEVELS:
            err("隐患级别", "隐患级别应为“一般隐患”或“重大隐患”")
        state_text = _text(v.get("状态"))
        wanted = _STATES.get(state_text) if state_text else None
        if state_text and wanted is None:
            err("状态", f"“{state_text}”不能通过导入建立：导入只能建立待核查、已登记（限期整改）、挂牌督办、整改中或待验收的隐患")
        given = {"隐患级别": level_text != "", "统一社会信用代码": bool(code or name), "整改期限": deadline is not None
                 or _text(v.get("整改期限")) != ""}
        registering = wanted == "registered" or (wanted is None and any(given.values()))
        running = wanted in {s.value for s in RUNNING}
        if registering or running:
            for h in REGISTER_COLUMNS:
                if not given[h]:
                    what = STATE_LABELS[State(wanted)] if running else "登记隐患"
                    err(h, f"{what}须同时填写隐患级别、企业（统一社会信用代码或企业名称）和整改期限")
        elif wanted == "reported" and (given["隐患级别"] or given["整改期限"]):
            err("状态", "待核查的隐患不应填写隐患级别和整改期限")
        row.key = f"原编号 {_text(v.get('隐患编号'))}" if _text(v.get("隐患编号")) else _fingerprint(v, found)
        if row.key in seen:
            err("隐患编号", f"与第 {seen[row.key]} 行重复")
        seen.setdefault(row.key, row.number)
        running_body: dict[str, Any] = {}
        if running and not bad:
            running_body = _running_body(v, dates, err)
        problems += bad
        if bad:
            continue
        marker = f"〔台账导入 {row.key}〕"
        row.report = {
            "title": _text(v["隐患名称"]), "description": f"{_text(v['隐患描述'])}\n{marker}",
            "location": _text(v["隐患地点"]), "region_code": region, "industry": industry,
            "source": _SOURCES[source_text], "enterprise_uscc": ent.uscc if ent else None,
            "discovered_on": found.isoformat() if found else None,
        }
        if running and ent is not None and found and deadline:
            body = {**row.report, **running_body, "state": wanted, "level": _LEVELS[level_text],
                    "enterprise_uscc": ent.uscc, "deadline": deadline.isoformat(), "discovered_on": found.isoformat(),
                    "category": _text(v.get("隐患类别")) or None,
                    "ledger_file": source.file, "ledger_sheet": source.sheet or "—", "ledger_row": row.number,
                    "ladder_past": _ladder_past(deadline, today, calendar or default_calendar(),
                                                config or configured_ladder())}
            try:
                parse(ImportBody, body)
            except Invalid as exc:
                problems += _problems_of(exc, row.number)
                continue
            row.running = body
        elif registering and ent is not None:
            row.register = {"level": _LEVELS[level_text], "enterprise_uscc": ent.uscc,
                            "deadline": deadline.isoformat() if deadline else None,
                            "category": _text(v.get("隐患类别")) or None}
    return problems


def _running_body(v: dict[str, Any], dates: dict[str, date | None], err) -> dict[str, Any]:
    """The columns a running hazard's state stands on, as the `import` body's fields."""
    body: dict[str, Any] = {}
    for column, name in _DATE_COLUMNS.items():
        if dates.get(column) is not None:
            body[name] = dates[column].isoformat()  # type: ignore[union-attr]
    for column, name in _TEXT_COLUMNS.items():
        text_value = _text(v.get(column))
        if text_value:
            body[name] = text_value
    listing = _text(v.get("挂牌级别"))
    if listing:
        if listing in _LISTINGS:
            body["listing_level"] = _LISTINGS[listing]
        else:
            err("挂牌级别", "挂牌级别应为“县级”“市级”或“省级”")
    suspended = _text(v.get("停产整顿")).lower()
    if suspended:
        if suspended in _YES_NO:
            body["suspend_production"] = _YES_NO[suspended]
        else:
            err("停产整顿", "停产整顿应填“是”或“否”")
    return body


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


def _problems_of(exc: DomainError, row: int) -> list[RowProblem]:
    if isinstance(exc.details, list) and exc.details:
        return [RowProblem(row, _FIELD_COLUMNS.get(str(d.get("field", "")), str(d.get("field", "")) or "—"),
                           str(d.get("message", exc.message))) for d in exc.details]
    return [RowProblem(row, "—", exc.message)]


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
                    hazard = transitions.import_hazard(session, actor, row.running, now=now)
                else:
                    hazard = transitions.report(session, actor, row.report, now=now)
                    if row.register is not None:
                        hazard = transitions.perform(session, actor, hazard.id, "register", row.register, now=now)
                report.imported.append({"row": row.number, "code": hazard.code, "state": hazard.state})
        except DomainError as exc:
            report.errors += _problems_of(exc, row.number)
    report.errors.sort(key=lambda e: e.row)
    return report


class _Rollback(Exception):
    pass


def run(factory: sessionmaker[Session], content: bytes, username: str, *, now: datetime,
        partial: bool = False, dry_run: bool = False, filename: str = "",
        calendar: WorkCalendar | None = None, config: LadderConfig | None = None) -> ImportReport:
    """One transaction: committed when every row went in, or with `partial`; else rolled back.
    `dry_run`: everything is done and then rolled back; the report says what would happen."""
    report = ImportReport()
    source = Source(file=(filename.strip() or Source.file)[:200])
    try:
        with transaction(factory) as session:
            report = import_rows(session, content, username, now=now, partial=partial, source=source,
                                 calendar=calendar, config=config)
            if dry_run or (report.errors and not partial):
                raise _Rollback
            report.committed = True
    except _Rollback:
        if dry_run:
            report.dry_run = True
            report.imported = [{"row": i["row"], "state": i["state"]} for i in report.imported]
        else:
            report.imported = []
    log.info("ledger_import", username=username, rows=report.rows, imported=len(report.imported),
             present=len(report.present), errors=len(report.errors), committed=report.committed,
             dry_run=dry_run)
    return report
