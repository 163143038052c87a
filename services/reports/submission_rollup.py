"""Rolling up 直报: a city's (or the province's) report is the sum of its children's frozen,
accepted figures, plus the live figures of what is registered at the parent's own code (hazards
or enterprises in its subtree but in no child's), never a recomputation over the hazards.

Every count is summed (each industry's row, the total, the 动态清零 account, funds to the fen);
percentages are recomputed from the summed counts (`monthly._figures`), never averaged, so the
roll-up of accepted children equals the parent's live report while nothing has changed since.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, exists, not_, or_, select
from sqlalchemy.orm import Session

from db.models import Enterprise, Hazard, Region, ReportSubmission
from services.kernel import regions
from services.kernel.vocab import INDUSTRIES
from services.reports.monthly import (
    Clearing, Figures, MonthlyReport, PeriodReport, _figures, _pct, monthly, month_period,
)

COUNTS = tuple(name for name, info in Figures.model_fields.items() if info.annotation is int)
UNITS = ("units_due", "units_checked")
CLEARING = tuple(name for name, info in Clearing.model_fields.items() if info.annotation is int)
CHILD_LEVELS = ("city", "county")


def children(session: Session, region_code: str) -> list[tuple[str, str]]:
    """(code, name) of the cities of a province or the counties of a city, by code."""
    return [(c, n) for c, n in session.execute(
        select(Region.code, Region.name)
        .where(Region.parent_code == region_code, Region.level.in_(CHILD_LEVELS)).order_by(Region.code))]


def _counts(part: PeriodReport) -> dict[str, Any]:
    """A period's figures as counts (industry → field → number); funds as Decimal."""
    rows = {}
    for row in [*part.rows, part.total]:
        values: dict[str, Any] = {name: getattr(row, name) for name in COUNTS}
        values["funds_wan"] = Decimal(row.funds_wan)
        rows[row.industry] = values
    return {"rows": rows, "clearing": {name: getattr(part.clearing, name) for name in CLEARING},
            "first": part.first, "last": part.last}


def _combine(parts: list[dict[str, Any]], sign: Iterable[int]) -> dict[str, Any]:
    rows: dict[str | None, dict[str, Any]] = {}
    clearing = {name: 0 for name in CLEARING}
    for part, k in zip(parts, sign):
        for industry, values in part["rows"].items():
            into = rows.setdefault(industry, {name: 0 for name in COUNTS} | {"funds_wan": Decimal(0)})
            for name, value in values.items():
                into[name] += k * value
        for name, value in part["clearing"].items():
            clearing[name] += k * value
    return {"rows": rows, "clearing": clearing}


def _period(summed: dict[str, Any], first: str, last: str, present: set[str | None]) -> PeriodReport:
    """`present`: the industries the summed reports showed a row for (an industry known only
    through a subtraction shows only when something of it is left)."""
    rows = summed["rows"]
    zero = {name: 0 for name in COUNTS} | {"funds_wan": Decimal(0)}
    total = rows.get(None, zero)
    named = [i for i in rows if i is not None and (i in present or any(rows[i].values()))]
    order = [i for i in INDUSTRIES if i in named] + sorted(set(named) - set(INDUSTRIES))

    def figures(industry: str | None, values: dict[str, Any]) -> Figures:
        return _figures(industry, values, (values["units_due"], values["units_checked"]))

    c = summed["clearing"]
    clearing = Clearing(**c, year_target_pct=_pct(c["year_start_cleared"], c["year_start_stock"]))
    return PeriodReport(first=first, last=last, rows=[figures(i, rows[i]) for i in order],
                        total=figures(None, total), clearing=clearing)


def _own_code_clause(model: Any, region_code: str, kids: list[str]) -> Any:
    inside = model.region_code.startswith(regions.scope_prefix(region_code), autoescape=True)
    in_child = [model.region_code.startswith(regions.scope_prefix(k), autoescape=True) for k in kids]
    return and_(inside, not_(or_(*in_child))) if in_child else inside


def has_own_code(session: Session, region_code: str, kids: list[str]) -> bool:
    """Anything counted at the parent itself: a registered hazard or an active enterprise in its
    subtree but in none of its children's (one indexed existence query each)."""
    hazard = exists().where(_own_code_clause(Hazard, region_code, kids), Hazard.level.is_not(None))
    enterprise = exists().where(_own_code_clause(Enterprise, region_code, kids), Enterprise.active.is_(True))
    return bool(session.scalar(select(or_(hazard, enterprise))))


def accepted_snapshots(session: Session, region_code: str, month: str) -> dict[str, ReportSubmission]:
    """The accepted submissions of the region's children for the month, by code."""
    kids = [code for code, _ in children(session, region_code)]
    if not kids:
        return {}
    rows = session.scalars(select(ReportSubmission).where(
        ReportSubmission.month == month, ReportSubmission.region_code.in_(kids),
        ReportSubmission.state == "accepted"))
    return {row.region_code: row for row in rows}


def rollup(session: Session, region_code: str, region_name: str, month: str, *, today: date,
           frozen: dict[str, MonthlyReport]) -> MonthlyReport:
    """The parent's report: `frozen` (the accepted children's reports, already verified) summed,
    plus the live figures at the parent's own code = live(parent) − Σ live(children), computed
    only when something is registered there."""
    kids = [code for code, _ in children(session, region_code)]
    months = [_counts(r.month_figures) for r in frozen.values()]
    years = [_counts(r.year_to_date) for r in frozen.values()]
    signs = [1] * len(frozen)
    if has_own_code(session, region_code, kids):
        parent = monthly(session, region_code, region_name, month, today=today)
        lives = [monthly(session, k, k, month, today=today) for k in kids]
        months += [_counts(parent.month_figures)] + [_counts(r.month_figures) for r in lives]
        years += [_counts(parent.year_to_date)] + [_counts(r.year_to_date) for r in lives]
        signs += [1] + [-1] * len(lives)
    p = month_period(month)
    if frozen:
        last = max(r.month_figures.last for r in frozen.values())
    else:
        last = (min(p.last, today) if p.first <= today else p.last).isoformat()
    return MonthlyReport(
        month=month, region_code=region_code, region_name=region_name, industry=None,
        month_figures=_period(_combine(months, signs), p.first.isoformat(), last,
                              {r.industry for f in frozen.values() for r in f.month_figures.rows}),
        year_to_date=_period(_combine(years, signs), f"{p.first.year}-01-01", last,
                             {r.industry for f in frozen.values() for r in f.year_to_date.rows}),
    )


def load_report(snapshot: str) -> MonthlyReport:
    return MonthlyReport.model_validate(json.loads(snapshot))
