"""The 台账 (ledger): every hazard the caller may see, filtered, sorted and paged, and its Excel export.

Scope is `services.accounts.auth.scope_clause`, the same rule as the API's lists, so the ledger can never show
a hazard the caller could not open. "Overdue" is the definition used by the API's `overdue` filter
and the inbox: open (not closed or dismissed) with a deadline before today (Asia/Shanghai). The
export runs the very same query without paging, so the file holds exactly the filtered rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from db.models import Enterprise, Hazard, Region
from services.kernel import regions, xlsx
from services.accounts.auth import Principal
from services.kernel.clock import local_date
from services.kernel.errors import Invalid
from services.lifecycle.states import STATE_LABELS, State
from services.reads.filters import HazardFilter, is_overdue, overdue_clause
from services.kernel.vocab import INDUSTRIES, LEVELS, LISTING_LEVELS, SOURCES

SORTS = {"code": "隐患编号", "reported": "发现日期", "deadline": "整改期限", "level": "隐患级别", "state": "状态"}
PER_PAGE_CHOICES = (20, 50, 100, 200)
MAX_PER_PAGE = 200


@dataclass(frozen=True)
class LedgerQuery(HazardFilter):
    """The ledger's filters (the one hazard filter), sort and page; built from form or query
    parameters by `parse_query`."""

    sort: str = "reported"
    desc: bool = True
    overdue_first: bool = False
    page: int = 1
    per_page: int = 50

    def params(self, **over: Any) -> dict[str, Any]:
        """Query parameters that rebuild this query (links for sorting and paging), without blanks."""
        q = replace(self, **over)
        out: dict[str, Any] = {}
        for key in ("level", "region", "industry", "enterprise", "q", "reported_from", "reported_to",
                    "deadline_from", "deadline_to"):
            value = getattr(q, key)
            if value not in (None, ""):
                out[key] = value.isoformat() if isinstance(value, date) else value
        if q.state:
            out["state"] = list(q.state)
        if q.overdue is not None:
            out["overdue"] = "yes" if q.overdue else "no"
        if q.blacklisted is not None:
            out["blacklisted"] = "1" if q.blacklisted else "0"
        out["sort"], out["dir"] = q.sort, "desc" if q.desc else "asc"
        if q.overdue_first:
            out["overdue_first"] = "1"
        out["page"], out["per_page"] = q.page, q.per_page
        return out


def _get(params: Mapping[str, Any], key: str) -> str | None:
    value = params.get(key)
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    value = None if value is None else str(value).strip()
    return value or None


def _list(params: Any, key: str) -> list[str]:
    if hasattr(params, "getlist"):
        values = params.getlist(key)
    else:
        raw = params.get(key)
        values = raw if isinstance(raw, list | tuple) else ([] if raw is None else [raw])
    return [str(v).strip() for v in values if str(v).strip()]


def parse_query(params: Mapping[str, Any]) -> LedgerQuery:
    """Validate raw parameters; every problem is reported at once, per field, in Chinese."""
    errors: list[dict[str, str]] = []

    def bad(field: str, message: str) -> None:
        errors.append({"field": field, "message": message})

    states = _list(params, "state")
    for s in states:
        if s not in {st.value for st in State}:
            bad("state", f"未知的状态：{s}")
    level = _get(params, "level")
    if level and level not in LEVELS:
        bad("level", "隐患级别应为 general（一般隐患）或 major（重大隐患）")
    region = _get(params, "region")
    if region and not regions.valid_code(region):
        bad("region", "行政区划代码应为6位、9位或12位数字")
    industry = _get(params, "industry")
    if industry and industry not in INDUSTRIES:
        bad("industry", "未知的行业领域")
    overdue_text = _get(params, "overdue")
    overdue = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}.get(
        (overdue_text or "").lower()) if overdue_text else None
    if overdue_text and overdue is None:
        bad("overdue", "是否逾期应为 yes 或 no")
    listed_text = _get(params, "blacklisted")
    blacklisted = {"yes": True, "true": True, "1": True, "on": True, "no": False, "false": False, "0": False}.get(
        (listed_text or "").lower()) if listed_text else None
    if listed_text and blacklisted is None:
        bad("blacklisted", "黑名单筛选应为 1（仅黑名单企业）或 0（排除黑名单企业）")
    dates: dict[str, date | None] = {}
    for key, label in (("reported_from", "发现日期起"), ("reported_to", "发现日期止"),
                       ("deadline_from", "整改期限起"), ("deadline_to", "整改期限止")):
        text = _get(params, key)
        try:
            dates[key] = date.fromisoformat(text) if text else None
        except ValueError:
            dates[key] = None
            bad(key, f"{label}应为 YYYY-MM-DD 格式的日期")
    for lo, hi, label in (("reported_from", "reported_to", "发现日期"), ("deadline_from", "deadline_to", "整改期限")):
        if dates[lo] and dates[hi] and dates[lo] > dates[hi]:
            bad(hi, f"{label}的结束日期不能早于开始日期")
    sort = _get(params, "sort") or "reported"
    if sort not in SORTS:
        bad("sort", "排序字段应为：" + "、".join(f"{k}（{v}）" for k, v in SORTS.items()))
    direction = (_get(params, "dir") or "desc").lower()
    if direction not in ("asc", "desc"):
        bad("dir", "排序方向应为 asc 或 desc")
    page = per_page = 0
    try:
        page = int(_get(params, "page") or 1)
        if page < 1:
            raise ValueError
    except ValueError:
        bad("page", "页码应为正整数")
    try:
        per_page = int(_get(params, "per_page") or 50)
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError
    except ValueError:
        bad("per_page", f"每页条数应为 1 到 {MAX_PER_PAGE} 之间的整数")
    q = _get(params, "q")
    if q and len(q) > 100:
        bad("q", "关键词不能超过100个字符")
    if errors:
        raise Invalid("查询条件有误，请按提示修改。", details=errors)
    return LedgerQuery(
        state=tuple(dict.fromkeys(states)), level=level, region=region, industry=industry,
        enterprise=(_get(params, "enterprise") or "").upper() or None, overdue=overdue, q=q, blacklisted=blacklisted,
        sort=sort, desc=direction == "desc", overdue_first=(_get(params, "overdue_first") or "") in ("1", "on", "true"),
        page=page, per_page=per_page, **dates,
    )


def _order(query: LedgerQuery, today: date) -> list[Any]:
    column: Any = {
        "code": Hazard.code,
        "reported": Hazard.discovered_at,
        "deadline": Hazard.deadline,
        "level": case((Hazard.level == "major", 2), (Hazard.level == "general", 1), else_=0),
        "state": case(*[(Hazard.state == s.value, i) for i, s in enumerate(State)], else_=99),
    }[query.sort]
    key = column.desc() if query.desc else column.asc()
    if query.sort == "deadline":  # no deadline yet (待核查): always last, whichever direction
        key = key.nulls_last()
    order = [key, Hazard.id.desc() if query.desc else Hazard.id.asc()]
    if query.overdue_first:
        order.insert(0, case((overdue_clause(today), 0), else_=1))
    return order


def _select(principal: Principal, query: LedgerQuery, today: date) -> Select[Any]:
    return (
        select(Hazard, Enterprise.name, Enterprise.uscc, Region.name)
        .outerjoin(Enterprise, Enterprise.id == Hazard.enterprise_id)
        .outerjoin(Region, Region.code == Hazard.region_code)
        .where(*query.conditions(principal, today))
    )


def _row(hazard: Hazard, enterprise_name: str | None, uscc: str | None, region_name: str | None,
         today: date) -> dict[str, Any]:
    state = State(hazard.state)
    return {
        "id": hazard.id, "code": hazard.code, "title": hazard.title, "description": hazard.description,
        "location": hazard.location, "enterprise_name": enterprise_name, "uscc": uscc,
        "region_code": hazard.region_code, "region_name": region_name, "industry": hazard.industry,
        "source_label": SOURCES.get(hazard.source, hazard.source), "category": hazard.category,
        "level": hazard.level, "level_label": LEVELS.get(hazard.level or "", ""),
        "state": state.value, "state_label": STATE_LABELS[state],
        "reported_on": local_date(hazard.discovered_at), "deadline": hazard.deadline,
        "overdue": is_overdue(hazard.deadline, state.value, today),
        "listing_label": LISTING_LEVELS.get(hazard.listing_level or "", ""),
        "listing_body": hazard.listing_body, "responsible_person": hazard.plan_responsible_person,
        "suspended": hazard.suspended,
        "closed_on": local_date(hazard.closed_at) if hazard.closed_at else None,
    }


def page(session: Session, principal: Principal, query: LedgerQuery, *, now: datetime) -> dict[str, Any]:
    """One page of the ledger plus the total count of the filtered rows (offset paging: the ledger
    is browsed by page number, and a county's ledger is thousands of rows, not millions)."""
    today = local_date(now)
    query = query.with_listed(session, today)
    base = _select(principal, query, today)
    total = session.execute(select(func.count()).select_from(base.with_only_columns(Hazard.id).subquery())
                            ).scalar_one()
    pages = max(1, -(-total // query.per_page))
    current = min(query.page, pages)
    rows = session.execute(base.order_by(*_order(query, today))
                           .offset((current - 1) * query.per_page).limit(query.per_page)).all()
    return {"items": [_row(*r, today=today) for r in rows], "total": total, "page": current, "pages": pages,
            "per_page": query.per_page, "today": today}


def iter_rows(session: Session, principal: Principal, query: LedgerQuery, *, now: datetime,
              batch: int = 500) -> Iterator[dict[str, Any]]:
    """Every filtered row in the ledger's order, read in batches (the export)."""
    today = local_date(now)
    query = query.with_listed(session, today)
    result = session.execute(_select(principal, query, today).order_by(*_order(query, today))
                             .execution_options(yield_per=batch))
    for r in result:
        yield _row(*r, today=today)


# --- Excel -----------------------------------------------------------------------------------------

# (header, row key, width); the import (services.imports.ledger) reads the same headers.
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("隐患编号", "code", 20), ("隐患名称", "title", 30), ("隐患描述", "description", 40),
    ("隐患地点", "location", 24), ("企业名称", "enterprise_name", 28), ("统一社会信用代码", "uscc", 22),
    ("行政区划代码", "region_code", 13), ("行政区划", "region_name", 12), ("行业领域", "industry", 12),
    ("隐患来源", "source_label", 10), ("隐患类别", "category", 12), ("隐患级别", "level_label", 10),
    ("状态", "state_label", 16), ("发现日期", "reported_on", 12), ("整改期限", "deadline", 12),
    ("是否逾期", "overdue", 9), ("挂牌级别", "listing_label", 9), ("挂牌单位", "listing_body", 26),
    ("整改责任人", "responsible_person", 12), ("停产整顿", "suspended", 9), ("销号日期", "closed_on", 12),
)
HEADERS = tuple(c[0] for c in COLUMNS)
OVERDUE_FILL = "F8CBAD"


def export_xlsx(session: Session, principal: Principal, query: LedgerQuery, *, now: datetime) -> bytes:
    """The filtered ledger (all pages) as an .xlsx: Chinese headers, real dates, frozen header row,
    overdue rows filled red so they stand out when printed. Written through services.kernel.xlsx, so a
    title such as `=1+1` stays text and a stray control character cannot fail the export."""
    book = xlsx.Book()
    sheet = book.sheet("隐患台账", [xlsx.Column(header, width) for header, _, width in COLUMNS])
    for row in iter_rows(session, principal, query, now=now):
        sheet.append([row[key] for _, key, _ in COLUMNS], fill=OVERDUE_FILL if row["overdue"] else None)
    return book.to_bytes()
