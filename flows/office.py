"""The office's daily duties as one Prefect flow, `office-duties` (08:30 Asia/Shanghai, and by hand):
each duty is one task run calling one service sweep with the unit of work, the time and the
calendar of the moment, and answering its counts. A duty is added by one line in `DUTIES`.

In order: the self-inspection returns' steps (services/inspections/duties.py: remind, list for the
inspectors, 通报), 直报 (services/reports/submission_duties.py: every region's draft, the deadline's
reminder and the late steps), the overdue hazards the ladder publicized onto the 通报 lists
(services/bulletins/collect.py), the 约谈 and 问责移交 records of the ladder's summon and refer steps
(services/accountability/records.py), and the half-yearly inspection reminders of enterprises on
the 黑名单 (services/blacklist/duties.py), and the task ladder (services/tasks/sweep.py: reminders,
督办, overdue parts onto the issuing office's 通报 list, year-long parts' monthly progress reminders). The sweeps are idempotent and fire each step once, so a retried or doubled run
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from db.engine import UnitOfWork
from flows.context import run_logger, unit_of_work
from services.calendar import years as calendar_years
from services.calendar.workdays import WorkCalendar
from services.kernel.clock import local_date, utcnow
from services.accountability import records as accountability_records
from services.blacklist import duties as blacklist_duties
from services.bulletins import collect as bulletin_collect
from services.inspections import duties as return_duties
from services.reports import submission_duties
from services.tasks import duties as task_duties

Duty = Callable[..., dict[str, int]]  # sweep(uow, *, now, calendar) -> counts

DUTIES: dict[str, Duty] = {
    "self-inspection-returns": return_duties.sweep,  # 企业自查: remind, list, 通报
    "report-submissions": submission_duties.sweep,  # 直报: drafts, reminder, late
    "bulletin-entries": bulletin_collect.sweep,  # 通报: the hazards the ladder publicized
    "accountability-records": accountability_records.sweep,  # 约谈 and 问责移交 records
    "blacklist-inspections": blacklist_duties.sweep,  # 黑名单: half-yearly inspection reminders
    "tasks": task_duties.sweep,  # 任务清单: the task ladder, 通报 of overdue tasks, monthly progress reminders
}


def _run_name() -> str:
    from prefect.runtime import flow_run

    now = flow_run.parameters.get("now") or utcnow()
    return f"office duties {local_date(now)}"


@task(name="office-duty", task_run_name="{name}", cache_policy=NO_CACHE)
def run_duty(name: str, now: datetime) -> dict[str, int]:
    """One duty's sweep with the calendar as loaded now (`hazard calendar set-year` included)."""
    uow: UnitOfWork = unit_of_work()
    calendar: WorkCalendar = calendar_years.refresh(uow, force=True)
    return DUTIES[name](uow, now=now, calendar=calendar)


@flow(name="office-duties", flow_run_name=_run_name, log_prints=False)
def office_duties(now: datetime | None = None, only: list[str] | None = None) -> dict[str, Any]:
    """Run every duty (or those named in `only`) in turn as of `now` (default: the present); one
    failing duty does not stop the others, and the run fails at the end if any did."""
    now = now or utcnow()
    logger = run_logger()
    results: dict[str, Any] = {}
    failed = []
    for name in DUTIES:
        if only and name not in only:
            continue
        try:
            results[name] = run_duty(name, now)
            logger.info("office duty %s: %s", name, results[name])
        except Exception as exc:  # reported below; the other duties still run
            logger.exception("office duty %s failed", name)
            results[name] = {"error": type(exc).__name__}
            failed.append(name)
    if failed:
        raise RuntimeError(f"office duties failed: {', '.join(failed)}")
    return {"as_of": local_date(now).isoformat(), **results}
