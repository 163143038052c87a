"""The escalation sweep as a Prefect flow (every 15 minutes; `hazard escalate` runs the same
sweep from the command line)."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow

from flows.context import run_logger, session_factory
from services.calendar import default_calendar
from services.clock import utcnow
from services.escalation import configured_ladder
from services.sweep import sweep


def _run_name() -> str:
    from prefect.runtime import flow_run

    from services.clock import local_date

    as_of = flow_run.parameters.get("as_of") or local_date(utcnow())
    return f"sweep {as_of}"


@flow(name="escalation-sweep", flow_run_name=_run_name, log_prints=False)
def escalation_sweep(as_of: date | None = None, dry_run: bool = False, batch_size: int = 1000) -> dict[str, Any]:
    """Fire every ladder step due as of `as_of` (default: today in Asia/Shanghai)."""
    calendar = default_calendar()
    report = sweep(session_factory(), now=utcnow(), calendar=calendar, config=configured_ladder(),
                   as_of=as_of, dry_run=dry_run, batch_size=batch_size)
    logger = run_logger()
    logger.info("sweep as of %s: %d hazards, %d steps %s", report.as_of, report.hazards, report.events,
                report.by_step)
    for year in calendar.provisional_years():
        logger.warning("calendar year %s is provisional: statutory holidays only, no 调休", year)
    return {"as_of": report.as_of.isoformat(), "hazards": report.hazards, "events": report.events,
            "by_step": report.by_step, "batches": report.batches, "retried": report.retried,
            "dry_run": dry_run}
