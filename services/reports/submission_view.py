"""The monthly report as a reader asks for it (GET /api/v1/reports/monthly, the 月报 page), now
that months are submitted: a submitted or accepted month answers its frozen figures (verified),
a city or the province may ask for the roll-up of its accepted children, and otherwise the
figures are live as before. The answer says which (`basis`) and carries the submission state."""

from __future__ import annotations

from datetime import date
from typing import Literal

from sqlalchemy.orm import Session

from services.accounts.auth import Principal
from services.kernel import regions
from services.kernel.errors import Forbidden, Invalid
from services.lifecycle.roles import Role
from services.reports.monthly import READERS, MonthlyReport, for_reader, monthly
from services.reports.tasks import TaskSection, task_section
from services.tasks.engine import READERS as TASK_READERS
from services.reports.submission import (
    FROZEN, DueRule, SubmissionOut, compute, frozen, row_of, status, target,
)

Basis = Literal["live", "submitted", "rollup"]
BASIS_LABELS = {"live": "按隐患记录的现状统计", "submitted": "上报时冻结的数字", "rollup": "下级已通过月报的汇总"}


class MonthlyReportView(MonthlyReport):
    basis: Basis = "live"  # live: as the records stand now; submitted: frozen; rollup: accepted children summed
    submission: SubmissionOut | None = None  # None for a reader bound to one industry
    # 任务清单: the parts due in the month of the lists issued in the subtree, as they stand now; read
    # beside the figures, never frozen with them (services/reports/tasks.py). None for a reader
    # outside the plans' readers (the 安委办 and auditors).
    tasks: TaskSection | None = None


def view(session: Session, principal: Principal, *, month: str, region_code: str | None, today: date,
         rule: DueRule, basis: Literal["auto", "live", "submitted", "rollup"] = "auto") -> MonthlyReportView:
    """`auto`: the frozen figures once submitted, else live. A reader bound to one industry sees
    that industry live (a submission freezes the whole region)."""
    if principal.role not in READERS:
        raise Forbidden("当前角色无权查看月报", code="role")
    if principal.industry and principal.role in (Role.INSPECTOR, Role.SUPERVISOR):
        report = for_reader(session, principal, month=month, region_code=region_code, today=today)
        if basis not in ("auto", "live"):
            raise Invalid("查询条件有误", details=[{"field": "basis", "message": "按行业查看时只提供现状统计"}])
        return MonthlyReportView.model_validate({**report.model_dump(), "basis": "live"})
    t = target(session, principal, region_code, month, today)
    sub = status(session, t, today=today, rule=rule)
    chosen: Basis = ("submitted" if sub.state in FROZEN else "live") if basis == "auto" else basis
    if chosen == "submitted":
        row = row_of(session, t.code, t.month)
        if row is None or row.state not in FROZEN:
            raise Invalid("查询条件有误", details=[{"field": "basis", "message": "该月报尚未上报，没有冻结的数字"}])
        report = frozen(session, row)
    elif chosen == "rollup":
        if regions.region_level(t.code) == "county":
            raise Invalid("查询条件有误", details=[{"field": "basis", "message": "县级月报没有下级可汇总"}])
        report = compute(session, t.code, t.name, t.month, today=today)
    else:
        report = monthly(session, t.code, t.name, t.month, today=today)
    tasks = task_section(session, t.code, t.month, today=today) if principal.role in TASK_READERS else None
    return MonthlyReportView.model_validate({**report.model_dump(), "basis": chosen, "submission": sub,
                                             "tasks": tasks})
