"""The monthly report as the official form: an .xlsx workbook (one sheet for the month, one for the
year to date) laid out like the paper form — title, 填报单位, the two-row header, a row per industry,
合计, the 动态清零 account — and the signature line (单位负责人, 填报人, 填报日期)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.orm import Session

from services.accounts.auth import Principal
from services.documents.render import render_pdf
from services.lifecycle.roles import Role
from services.reads.directory import region_name
from services.kernel.xlsx import MEDIA_TYPE, FormBook
from services.reports.monthly import Figures, MonthlyReport, PeriodReport

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "reports"

# (group, column, attribute): a group spans the columns that follow it with the same group.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("行业领域", "", "industry"),
    ("排查单位", "应排查（家）", "units_due"), ("排查单位", "已排查（家）", "units_checked"),
    ("排查单位", "覆盖率（%）", "coverage_pct"),
    ("一般隐患", "排查（条）", "general_found"), ("一般隐患", "已整改（条）", "general_fixed"),
    ("一般隐患", "整改率（%）", "general_fixed_pct"),
    ("重大隐患", "排查（条）", "major_found"), ("重大隐患", "已整改销号（条）", "major_closed"),
    ("重大隐患", "整改率（%）", "major_closed_pct"),
    ("重大隐患", "正在整改（条）", "major_rectifying"), ("重大隐患", "其中五落实（条）", "major_rectifying_five_items"),
    ("挂牌督办（条）", "省级", "listed_province"), ("挂牌督办（条）", "市级", "listed_city"),
    ("挂牌督办（条）", "县级", "listed_county"),
    ("整改资金", "（万元）", "funds_wan"),
    ("逾期未整改", "（条）", "overdue"),
    ("按期销号", "销号（条）", "closed"), ("按期销号", "按期（条）", "closed_on_time"),
    ("按期销号", "按期率（%）", "on_time_pct"),
)


def _value(figures: Figures, attribute: str) -> object:
    value = getattr(figures, attribute)
    if attribute == "industry":
        return value or "合计"
    if attribute == "funds_wan":
        return float(value)
    return "—" if value is None else value


def _sheet(book: FormBook, title: str, report: MonthlyReport, part: PeriodReport, *, unit: str,
           head: str, filler: str, filled_on: date) -> None:
    ws = book.sheet(title)
    width = len(COLUMNS)
    scope = f"（{report.industry}）" if report.industry else ""
    ws.title(ws.append([f"{report.region_name}安全生产事故隐患排查治理情况统计表{scope}"]))
    ws.merge(1, 1, 1, width)
    ws.append([f"填报单位（盖章）：{unit}", *[None] * (width - 4), f"统计期间：{part.first} 至 {part.last}"])
    ws.merge(2, 1, 2, width - 4)
    ws.merge(2, width - 3, 2, width)
    ws.append([group for group, _, _ in COLUMNS])
    ws.append([column for _, column, _ in COLUMNS])
    start = 1
    for i in range(1, width + 1):  # merge each group's cells in row 3, and a lone header down to row 4
        group = COLUMNS[i - 1][0]
        if i == width or COLUMNS[i][0] != group:
            if start < i:
                ws.merge(3, start, 3, i)
            elif not COLUMNS[i - 1][1]:
                ws.merge(3, i, 4, i)
            start = i + 1
    for row in (*part.rows, part.total):
        last = ws.append([_value(row, attribute) for _, _, attribute in COLUMNS])
    ws.box(3, last, width, bold_last=True)
    c = part.clearing
    ws.append([None])
    ws.append(["重大隐患动态清零", "期初存量", c.stock_start, "本期新增", c.found, "本期销号", c.closed,
               "期末存量", c.stock_end, "年初存量（清零目标）", c.year_start_stock, "已清零", c.year_start_cleared,
               "清零进度（%）", "—" if c.year_target_pct is None else c.year_target_pct])
    ws.append([None])
    ws.append([f"单位负责人：{head}", None, None, None, None, None, f"填报人：{filler}", None, None, None, None, None,
               f"填报日期：{filled_on.isoformat()}"])
    ws.widths([14] + [10] * (width - 1), header_height=32, header_row=4, freeze="B5")


def workbook(report: MonthlyReport, *, unit: str, head: str = "", filler: str = "",
             filled_on: date) -> bytes:
    """The report as .xlsx bytes (through services.kernel.xlsx: text is never a formula). `unit` is
    the 填报单位 (the reader's office), `filler` who downloads it; `head` (单位负责人) is left for
    the signature when not known."""
    book = FormBook()
    for title, part in (("本月", report.month_figures), ("年初至今", report.year_to_date)):
        _sheet(book, title, report, part, unit=unit, head=head, filler=filler, filled_on=filled_on)
    tasks = getattr(report, "tasks", None)
    if tasks is not None and tasks.rows:  # a region whose lists have nothing due keeps the two sheets
        _task_sheet(book, report, tasks)
    return book.to_bytes()


TASK_COLUMNS = (("责任单位", "unit"), ("本月到期（项）", "due"), ("按期完成（项）", "on_time"),
                ("逾期完成（项）", "late"), ("逾期未完成（项）", "overdue"), ("未到期（项）", "pending"),
                ("按期完成率（%）", "on_time_pct"))


def _task_sheet(book: FormBook, report: MonthlyReport, tasks: Any) -> None:
    """任务清单完成情况 (services/reports/tasks.py), as the records stand: not the frozen figures."""
    ws = book.sheet("任务清单")
    width = len(TASK_COLUMNS)
    ws.title(ws.append([f"{report.region_name}任务清单完成情况（{tasks.first} 至 {tasks.last} 到期）"]))
    ws.merge(1, 1, 1, width)
    ws.append(["按任务记录的现状统计，不属上报冻结的数字", *[None] * (width - 1)])
    ws.merge(2, 1, 2, width)
    first = ws.append([label for label, _ in TASK_COLUMNS])
    last = first
    for row in (*tasks.rows, tasks.total):
        last = ws.append([("—" if getattr(row, a) is None else getattr(row, a)) for _, a in TASK_COLUMNS])
    ws.box(first, last, width, bold_last=True)
    ws.widths([28] + [14] * (width - 1))


def _groups() -> list[tuple[str, int, bool]]:
    """(group, columns it spans, whether it stands alone over two header rows)."""
    out: list[tuple[str, int, bool]] = []
    for group, column, _ in COLUMNS:
        if out and out[-1][0] == group:
            out[-1] = (group, out[-1][1] + 1, False)
        else:
            out.append((group, 1, not column))
    return out


def html(report: MonthlyReport, *, unit: str, head: str = "", filler: str = "", filled_on: date) -> str:
    """The same form as HTML (templates/reports/monthly.html), for the PDF."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined)
    return env.get_template("monthly.html").render(
        report=report, unit=unit, head=head, filler=filler, filled_on=filled_on.isoformat(),
        parts=[("本月", report.month_figures), ("年初至今", report.year_to_date)],
        groups=_groups(), columns=COLUMNS, cell=_value)


def pdf(report: MonthlyReport, **kw) -> bytes:
    return render_pdf(html(report, **kw))


def signature(session: Session, principal: Principal, today: date) -> dict[str, Any]:
    """填报单位, 填报人 and 填报日期 for a reader downloading the form: their own office."""
    office = "安全生产委员会办公室" if principal.role == Role.COMMITTEE else "应急管理部门"
    return {"unit": f"{region_name(session, principal.region_code) or principal.region_code}{office}",
            "filler": principal.display_name, "filled_on": today}


def download(report: MonthlyReport, ext: str, **sign: Any) -> tuple[bytes, str, str]:
    """The form as `xlsx` or `pdf`: its bytes, media type and file name (Chinese)."""
    name = f"{report.region_name}{report.month}月报.{ext}"
    if ext == "xlsx":
        return workbook(report, **sign), MEDIA_TYPE, name
    return pdf(report, **sign), "application/pdf", name
