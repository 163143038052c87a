"""The demo's office side (issue 13): the enterprises' self-inspection returns of the last complete
months, most filed on time and some missing, each filed by the enterprise's own user through
`services.inspections.returns` at a moment inside its filing window (so every rule is checked as
for a real filing); then the office duties as the daily `office-duties` flow would run them at the
end of the demo's history: the returns' reminders and lists, every region's 直报 draft, the 通报
entries of the hazards the ladder publicized, the 约谈 and 问责移交 records of its summon and refer
steps, and the 黑名单 reminders; and the two published example task lists (`plans/`) imported as
drafts for their 安委办 to review. What they made is printed after the summary.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timezone
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.engine import UnitOfWork, transaction
from db.models import Hazard, PlanTask
from services.accounts.auth import Principal
from services.calendar import years as calendar_years
from services.inspections import window
from services.inspections.returns import file_return
from services.kernel.clock import SHANGHAI, local_date
from services.kernel.errors import DomainError
from services.tasklists.drafts import import_draft, open_reviews

PLANS = Path(__file__).parent / "plans"
# (file, title, issued by, year): two published plans, imported as drafts for review
EXAMPLE_PLANS = (
    ("xinzhou-2021-plan.txt", "忻州市安全生产专项整治三年行动集中攻坚年工作方案", "忻州市安委办", 2021),
    ("lvliang-2022-task-list.txt", "吕梁市安全生产专项整治三年行动2022年任务清单", "吕梁市安委办", 2022),
)

MONTHS = 3  # the complete months before the demo's present that have returns
FILED_SHARE = 0.85  # of the enterprises, those that filed a given month's return on time
SCOPE = "生产作业区、仓储区、配电室、消防设施及办公生活区"


def _own_self_checks(session: Session, enterprise_id: int, month: str) -> list[int]:
    start, end = (datetime.combine(d, t, SHANGHAI) for d, t in
                  ((window.first_day(month), time.min), (window.last_day(month), time.max)))
    return list(session.scalars(select(Hazard.id).where(
        Hazard.enterprise_id == enterprise_id, Hazard.source == "self_check",
        Hazard.discovered_at >= start, Hazard.discovered_at <= end, Hazard.self_inspection_id.is_(None))))


def file_returns(factory: sessionmaker[Session], enterprises: dict[str, Principal], heads: dict[str, str],
                 anchor: datetime, seed: int) -> int:
    """File the returns of the `MONTHS` complete months before `anchor` (their founding month
    excepted); returns how many were filed. A return the rules refuse (a nil return in a month
    with a major hazard, say) is left unfiled, as a real enterprise's would be."""
    rng = random.Random(seed ^ 0x5E1F)
    calendar = calendar_years.refresh(UnitOfWork(factory), force=True)
    month = window.month_of(local_date(anchor))
    months = []
    for _ in range(MONTHS):
        month = window.previous_month(month)
        months.append(month)
    filed = 0
    for month in reversed(months):
        last = window.last_working_day(month, calendar)
        at = datetime.combine(last, time(10, 0), SHANGHAI).astimezone(timezone.utc)
        for key, principal in sorted(enterprises.items()):
            if rng.random() > FILED_SHARE:
                continue
            with transaction(factory) as s:
                links = _own_self_checks(s, principal.enterprise_id or 0, month)
                body = {"month": month, "checked_from": window.first_day(month).isoformat(),
                        "checked_to": last.isoformat(), "scope": SCOPE, "principal": heads[key],
                        "nil_return": not links, "link_hazard_ids": links}
                try:
                    with s.begin_nested():
                        file_return(s, principal, body, now=at, calendar=calendar)
                    filed += 1
                except DomainError:
                    pass
    return filed


def run_duties(factory: sessionmaker[Session], now: datetime) -> dict[str, dict[str, int]]:
    """The office duties once, as of `now` (the flow's sweeps, in the flow's order)."""
    from flows.office import DUTIES  # the flow's list, so the demo runs exactly what it runs

    uow = UnitOfWork(factory)
    calendar = calendar_years.refresh(uow, force=True)
    return {name: duty(uow, now=now, calendar=calendar) for name, duty in DUTIES.items()}


def import_plans(factory: sessionmaker[Session], now: datetime) -> list[tuple[str, int, int]]:
    """The example plans as drafts: (title, tasks, tasks needing review) of each."""
    out = []
    for name, title, issuer, year in EXAMPLE_PLANS:
        with transaction(factory) as s:
            plan, _ = import_draft(s, None, PLANS / name, filename=name, title=title, issued_by=issuer, year=year,
                                   now=now)
            tasks = s.scalar(select(func.count()).select_from(PlanTask).where(PlanTask.plan_id == plan.id))
            out.append((title, int(tasks or 0), len(open_reviews(s, plan.id))))
    return out


def describe(filed: int, counts: dict[str, dict[str, int]], plans: list[tuple[str, int, int]] = ()) -> str:
    returns, reports = counts.get("self-inspection-returns", {}), counts.get("report-submissions", {})
    bulletins, records = counts.get("bulletin-entries", {}), counts.get("accountability-records", {})
    return (f"办公事务：企业自查报告 {filed} 份（近 {MONTHS} 个月），未报送提醒 {returns.get('remind', 0)} 家、"
            f"列入未报送名单 {returns.get('list', 0)} 家、列入通报 {returns.get('publicize', 0)} 家；"
            f"月报草稿 {reports.get('drafts_created', 0)} 份；逾期隐患列入通报名单 {bulletins.get('proposed', 0)} 条；"
            f"约谈记录 {records.get('summonses', 0)} 份、问责移交 {records.get('referrals', 0)} 份。"
            + "".join(f"\n任务清单草稿（待安委办核对后发布，见“任务清单”）：{title}，{n} 项任务，{r} 项需核对。"
                      for title, n, r in plans))
