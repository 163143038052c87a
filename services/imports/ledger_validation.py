"""Checking the ledger's rows (services/imports/ledger_sheet.py) before anything is written: every
problem of every row, by row number, column and reason; each valid row gets the bodies of the
actions that will create its hazard (`report` and `register`, or one `import` for a running hazard)
and its import key (services/imports/ledger.py explains the key and the running hazards).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from db.models import Enterprise, Region
from services.calendar.workdays import WorkCalendar, default_calendar
from services.engine import creation
from services.escalation.ladder import DEADLINE_STEPS, LadderConfig, configured_ladder, cutoffs
from services.imports.ledger_sheet import (
    DATE_COLUMNS, LEVEL_VALUES, LISTING_VALUES, REGISTER_COLUMNS, REQUIRED, RUNNING, SOURCE_VALUES,
    STATE_VALUES, TEXT_COLUMNS, YES_NO, Row, Source, cell_day, column_of,
)
from services.imports.rows import RowProblem, cell_text, problems_of
from services.kernel import uscc
from services.kernel.errors import Invalid
from services.kernel.validation import parse
from services.kernel.vocab import INDUSTRIES, SOURCES
from services.lifecycle.import_body import ImportBody
from services.lifecycle.states import STATE_LABELS, State


def _fingerprint(v: dict[str, Any], found: date | None) -> str:
    parts = [cell_text(v.get(h)).upper() for h in ("统一社会信用代码", "隐患名称", "隐患地点")]
    digest = hashlib.sha256("\x1f".join([*parts, str(found)]).encode()).hexdigest()[:16]
    return f"指纹 {digest}"


@dataclass
class _Enterprises:
    """The enterprises the file names, by code and by name, read once."""

    by_uscc: dict[str, Enterprise]
    by_name: dict[str, list[Enterprise]]

    @classmethod
    def load(cls, session: Session, rows: list[Row]) -> _Enterprises:
        codes = {cell_text(r.values.get("统一社会信用代码")).upper() for r in rows} - {""}
        names = {cell_text(r.values.get("企业名称")) for r in rows} - {""}
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
            if cell_text(v.get(h)) == "":
                err(h, "必填项为空")
        region = cell_text(v.get("行政区划代码"))
        if region and region not in known_regions:
            err("行政区划代码", f"未知的行政区划代码：{region}")
        industry = cell_text(v.get("行业领域"))
        if industry and industry not in INDUSTRIES:
            err("行业领域", "行业领域应为：" + "、".join(INDUSTRIES))
        source_text = cell_text(v.get("隐患来源"))
        if source_text and source_text not in SOURCE_VALUES:
            err("隐患来源", "隐患来源应为：" + "、".join(SOURCES.values()))
        dates: dict[str, date | None] = {}
        for h in ("发现日期", "整改期限", *DATE_COLUMNS):
            try:
                dates[h] = cell_day(v.get(h))
            except ValueError:
                dates[h] = None
                err(h, "日期格式不正确，应为 YYYY-MM-DD 或 Excel 日期")
        found, deadline = dates["发现日期"], dates["整改期限"]
        if found and found > today:
            err("发现日期", "发现日期不能晚于今天")
        elif found and found < today - creation.EARLIEST_DISCOVERY:
            err("发现日期", "发现日期不能早于五年前")
        if found and deadline and deadline <= found:
            err("整改期限", "整改期限应晚于发现日期")
        code = cell_text(v.get("统一社会信用代码")).upper()
        name = cell_text(v.get("企业名称"))
        ent = enterprises.match(code, name, err)
        level_text = cell_text(v.get("隐患级别"))
        if level_text and level_text not in LEVEL_VALUES:
            err("隐患级别", "隐患级别应为“一般隐患”或“重大隐患”")
        state_text = cell_text(v.get("状态"))
        wanted = STATE_VALUES.get(state_text) if state_text else None
        if state_text and wanted is None:
            err("状态", f"“{state_text}”不能通过导入建立：导入只能建立待核查、已登记（限期整改）、挂牌督办、整改中或待验收的隐患")
        given = {"隐患级别": level_text != "", "统一社会信用代码": bool(code or name), "整改期限": deadline is not None
                 or cell_text(v.get("整改期限")) != ""}
        registering = wanted == "registered" or (wanted is None and any(given.values()))
        running = wanted in {s.value for s in RUNNING}
        if registering or running:
            for h in REGISTER_COLUMNS:
                if not given[h]:
                    what = STATE_LABELS[State(wanted)] if running else "登记隐患"
                    err(h, f"{what}须同时填写隐患级别、企业（统一社会信用代码或企业名称）和整改期限")
        elif wanted == "reported" and (given["隐患级别"] or given["整改期限"]):
            err("状态", "待核查的隐患不应填写隐患级别和整改期限")
        row.key = f"原编号 {cell_text(v.get('隐患编号'))}" if cell_text(v.get("隐患编号")) else _fingerprint(v, found)
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
            "title": cell_text(v["隐患名称"]), "description": f"{cell_text(v['隐患描述'])}\n{marker}",
            "location": cell_text(v["隐患地点"]), "region_code": region, "industry": industry,
            "source": SOURCE_VALUES[source_text], "enterprise_uscc": ent.uscc if ent else None,
            "discovered_on": found.isoformat() if found else None,
        }
        if running and ent is not None and found and deadline:
            body = {**row.report, **running_body, "state": wanted, "level": LEVEL_VALUES[level_text],
                    "enterprise_uscc": ent.uscc, "deadline": deadline.isoformat(), "discovered_on": found.isoformat(),
                    "category": cell_text(v.get("隐患类别")) or None,
                    "ledger_file": source.file, "ledger_sheet": source.sheet or "—", "ledger_row": row.number,
                    "ladder_past": _ladder_past(deadline, today, calendar or default_calendar(),
                                                config or configured_ladder())}
            try:
                parse(ImportBody, body)
            except Invalid as exc:
                problems += problems_of(exc, row.number, column_of)
                continue
            row.running = body
        elif registering and ent is not None:
            row.register = {"level": LEVEL_VALUES[level_text], "enterprise_uscc": ent.uscc,
                            "deadline": deadline.isoformat() if deadline else None,
                            "category": cell_text(v.get("隐患类别")) or None}
    return problems


def _running_body(v: dict[str, Any], dates: dict[str, date | None], err) -> dict[str, Any]:
    """The columns a running hazard's state stands on, as the `import` body's fields."""
    body: dict[str, Any] = {}
    for column, name in DATE_COLUMNS.items():
        if dates.get(column) is not None:
            body[name] = dates[column].isoformat()  # type: ignore[union-attr]
    for column, name in TEXT_COLUMNS.items():
        text_value = cell_text(v.get(column))
        if text_value:
            body[name] = text_value
    listing = cell_text(v.get("挂牌级别"))
    if listing:
        if listing in LISTING_VALUES:
            body["listing_level"] = LISTING_VALUES[listing]
        else:
            err("挂牌级别", "挂牌级别应为“县级”“市级”或“省级”")
    suspended = cell_text(v.get("停产整顿")).lower()
    if suspended:
        if suspended in YES_NO:
            body["suspend_production"] = YES_NO[suspended]
        else:
            err("停产整顿", "停产整顿应填“是”或“否”")
    return body
