"""The escalation sweep as a Prefect flow (every 15 minutes; `hazard escalate` runs the same
sweep from the command line).

The flow reads the due hazards a batch at a time (`services.escalation.sweep.due_batches`) and fires each
batch in parts of at most `HAZARDS_PER_RUN` hazards, each part one `escalate` task run named after
its hazards and tagged `hazard:<code>` for every one of them, so the Prefect UI shows each
escalation in the hazard's lifecycle. A part is one transaction (`services.escalation.sweep.fire`); the parts
of a batch are disjoint, so they run side by side on a few threads to hide Prefect's per-run cost.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from prefect import flow, tags, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows.context import HAZARDS_PER_RUN, hazard_tags, run_logger, session_factory
from services.calendar import years as calendar_years
from services.kernel.clock import local_date, utcnow
from services.escalation.ladder import Cutoffs, configured_ladder, cutoffs
from services.escalation.sweep import SweepReport, due_batches, fire, log_report, sweep

PARALLEL_PARTS = 3


def _run_name() -> str:
    from prefect.runtime import flow_run

    as_of = flow_run.parameters.get("as_of") or local_date(utcnow())
    return f"sweep {as_of}"


def _part_name() -> str:
    from prefect.runtime import task_run

    codes = [row.code for row in task_run.parameters["rows"]]
    more = f" (+{len(codes) - 1})" if len(codes) > 1 else ""
    return f"escalate {codes[0]}{more}"


@task(name="escalate", task_run_name=_part_name, cache_policy=NO_CACHE)
def escalate(rows: list[Any], cut: Cutoffs, now: datetime, as_of: date) -> SweepReport:
    """Fire the steps due on these hazards (at most `HAZARDS_PER_RUN`), in one transaction; of
    several steps of one ladder due at once, only the most severe (`services.escalation.sweep.fire`)."""
    return fire(session_factory(), rows, cut, now=now, as_of=as_of)


@flow(name="escalation-sweep", flow_run_name=_run_name, log_prints=False,
      task_runner=ThreadPoolTaskRunner(max_workers=PARALLEL_PARTS))
def escalation_sweep(as_of: date | None = None, dry_run: bool = False, batch_size: int = 1000) -> dict[str, Any]:
    """Fire every ladder step due as of `as_of` (default: today in Asia/Shanghai)."""
    # The arrangements an admin loaded until now (`hazard calendar set-year`), re-read per sweep.
    calendar = calendar_years.refresh(session_factory(), force=True)
    config, now = configured_ladder(), utcnow()
    as_of = as_of or local_date(now)
    if dry_run:  # reads only: no hazard's work is done, nothing to tag
        report = sweep(session_factory(), now=now, calendar=calendar, config=config, as_of=as_of, dry_run=True,
                       batch_size=batch_size)
    else:
        report = _fire_all(as_of, now, cutoffs(as_of, calendar, config), batch_size)
    logger = run_logger()
    logger.info("sweep as of %s: %d hazards, %d steps %s, %d lesser steps skipped", report.as_of, report.hazards,
                report.events, report.by_step, report.skipped)
    for year in calendar.provisional_years():
        logger.warning("calendar year %s is provisional: statutory holidays only, no 调休", year)
    return {"as_of": report.as_of.isoformat(), "hazards": report.hazards, "events": report.events,
            "by_step": report.by_step, "skipped": report.skipped, "batches": report.batches, "retried": report.retried,
            "dry_run": dry_run}


def _fire_all(as_of: date, now: datetime, cut: Cutoffs, batch_size: int) -> SweepReport:
    report = SweepReport(as_of=as_of, dry_run=False)
    for rows in due_batches(session_factory(), cut, batch_size):
        report.selected += len(rows)
        report.batches += 1
        futures = []
        for i in range(0, len(rows), HAZARDS_PER_RUN):
            part = rows[i:i + HAZARDS_PER_RUN]
            with tags(*hazard_tags([row.code for row in part])):
                futures.append(escalate.submit(part, cut, now, as_of))
        for future in futures:  # the whole batch is written before the next one is read
            report.merge(future.result())
    log_report(report)
    return report
