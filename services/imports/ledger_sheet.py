"""The ledger (台账) as a spreadsheet: its columns, what a cell may say in each, and reading the rows
of the first sheet by header (services/imports/ledger.py imports them). The columns are the
ledger export's (services/reads/ledger.py `HEADERS`), and for a running hazard those of
`RUNNING_COLUMNS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from io import BytesIO
from typing import Any

from services.imports.rows import RowProblem, cell_text
from services.kernel.vocab import LEVELS, LISTING_LEVELS, SOURCES
from services.lifecycle.states import STATE_LABELS, State
from services.reads.ledger import HEADERS

REQUIRED = ("隐患名称", "隐患描述", "隐患地点", "行政区划代码", "行业领域", "隐患来源", "发现日期")
REGISTER_COLUMNS = ("隐患级别", "统一社会信用代码", "整改期限")
LEVEL_VALUES = {**{v: k for k, v in LEVELS.items()}, "一般": "general", "重大": "major", **{k: k for k in LEVELS}}
SOURCE_VALUES = {**{v: k for k, v in SOURCES.items()}, **{k: k for k in SOURCES}}
RUNNING = (State.SUPERVISED, State.RECTIFYING, State.ACCEPTANCE_REQUESTED)
STATE_VALUES = {STATE_LABELS[State.REPORTED]: "reported", "待核查": "reported", "reported": "reported",
                STATE_LABELS[State.REGISTERED]: "registered", "已登记": "registered", "registered": "registered",
                "已登记(限期整改)": "registered",  # as ledgers exported before the label took full-width brackets
                **{STATE_LABELS[s]: s.value for s in RUNNING}, **{s.value: s.value for s in RUNNING}}
# Besides the export's columns: what a running hazard's state stands on (the export has 挂牌级别,
# 整改责任人 and 停产整顿 already). Dates as dates or YYYY-MM-DD, money in 万元.
RUNNING_COLUMNS = ("挂牌日期", "方案报送期限", "整改措施", "整改资金（万元）", "整改时限", "应急预案", "方案报送日期",
                   "验收申请日期", "实际投入资金（万元）")
_READ = frozenset(HEADERS) | frozenset(RUNNING_COLUMNS)
DATE_COLUMNS = {"挂牌日期": "listed_on", "方案报送期限": "plan_due", "整改时限": "time_limit",
                "方案报送日期": "plan_filed_on", "验收申请日期": "acceptance_requested_on"}
TEXT_COLUMNS = {"整改责任人": "responsible_person", "整改措施": "measures", "应急预案": "contingency_plan",
                "整改资金（万元）": "funds_wan", "实际投入资金（万元）": "funds_spent_wan"}
LISTING_VALUES = {**{v: k for k, v in LISTING_LEVELS.items()}, **{k: k for k in LISTING_LEVELS},
                  "县": "county", "市": "city", "省": "province"}
YES_NO = {"是": True, "否": False, "yes": True, "no": False, "true": True, "false": False, "1": True, "0": False}
FIELD_COLUMNS = {"title": "隐患名称", "description": "隐患描述", "location": "隐患地点", "region_code": "行政区划代码",
                 "industry": "行业领域", "source": "隐患来源", "enterprise_uscc": "统一社会信用代码",
                 "level": "隐患级别", "deadline": "整改期限", "category": "隐患类别",
                 "discovered_on": "发现日期", "state": "状态", "listing_level": "挂牌级别",
                 "suspend_production": "停产整顿",
                 **{f: c for c, f in DATE_COLUMNS.items()}, **{f: c for c, f in TEXT_COLUMNS.items()}}


def column_of(field_name: str) -> str:
    """The column a person sees for a body field the service refused (the field's name otherwise)."""
    return FIELD_COLUMNS.get(field_name, field_name or "—")


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


def cell_day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text_value = cell_text(value).replace("/", "-").replace(".", "-")
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
    header = [cell_text(h) for h in next(it, ())]
    missing = [h for h in REQUIRED if h not in header]
    if missing:
        return [], [RowProblem(1, h, "缺少必需的列") for h in missing]
    rows = []
    for number, values in enumerate(it, start=2):
        if all(cell_text(v) == "" for v in values):
            continue
        rows.append(Row(number, {h: v for h, v in zip(header, values, strict=False) if h in _READ}))
    wb.close()
    return rows, []
