"""The escalation sweep as a Prefect flow (every 15 minutes; `hazard escalate` runs the same
sweep from the command line).

The flow runs the service's sweep loop (`services.escalation.sweep.sweep`: the due hazards a batch
at a time) and fires each batch in parts of at most `HAZARDS_PER_PART` hazards, each part one
`escalate` task run given the hazards' ids (it reads them again), named after its first hazard. A
part is one transaction (`fire_ids`); the parts of a batch are disjoint, so they run side by side
on a few threads to hide Prefect's per-run cost and the database's waits. A part carries no
per-hazard tag: once committed it emits `hazard.batch.escalated` events relating it to its hazards
(`flows.context.relate_hazards`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows.context import relate_hazards, run_logger, unit_of_work
from services.calendar import years as calendar_years
from services.kernel.clock import local_date, utcnow
from services.escalation.ladder import Cutoffs, configured_ladder
from services.escalation.sweep import SweepReport, fire_ids, sweep

PARALLEL_PARTS = 3
HAZARDS_PER_PART = 80  # one transaction each; small enough that the parts of a batch run side by side


def _run_name() -> str:
    from prefect.runtime import flow_run

    as_of = flow_run.parameters.get("as_of") or local_date(utcnow())
    return f"sweep {as_of}"


def _part_name() -> str:
    from prefect.runtime import task_run

    codes = task_run.parameters["codes"]
    more = f" (+{len(codes) - 1})" if len(codes) > 1 else ""
    return f"escalate {codes[0]}{more}"


@task(name="escalate", task_run_name=_part_name, cache_policy=NO_CACHE)
def escalate(hazard_ids: list[int], codes: list[str], cut: Cutoffs, now: datetime, as_of: date) -> SweepReport:
    """Fire the steps due on these hazards (at most `HAZARDS_PER_PART`; `codes` name the run and
    its events) in one transaction, reading them again first: a hazard acted on since it was
    selected is fired only if still due. Of several steps of one ladder due at once, only the most
    severe."""
    report = fire_ids(unit_of_work(), hazard_ids, cut, now=now, as_of=as_of)
    relate_hazards("hazard.batch.escalated", codes, {"events": report.events})
    return report


@flow(name="escalation-sweep", flow_run_name=_run_name, log_prints=False,
      task_runner=ThreadPoolTaskRunner(max_workers=PARALLEL_PARTS))
def escalation_sweep(as_of: date | None = None, dry_run: bool = False, batch_size: int = 1000) -> dict[str, Any]:
    """Fire every ladder step due as of `as_of` (default: today in Asia/Shanghai): the service's
    sweep loop (`services.escalation.sweep.sweep`), each batch fired as task runs."""
    # The arrangements an admin loaded until now (`hazard calendar set-year`), re-read per sweep.
    calendar = calendar_years.refresh(unit_of_work(), force=True)
    config, now = configured_ladder(), utcnow()
    as_of = as_of or local_date(now)

    def fire_batch(rows: list[Any], cut: Cutoffs) -> SweepReport:
        futures = []
        for i in range(0, len(rows), HAZARDS_PER_PART):
            part = rows[i:i + HAZARDS_PER_PART]
            futures.append(escalate.submit([row.id for row in part], [row.code for row in part], cut, now, as_of))
        report = SweepReport(as_of=as_of, dry_run=False)
        for future in futures:  # the whole batch is written before the next one is read
            report.merge(future.result())
        return report

    report = sweep(unit_of_work(), now=now, calendar=calendar, config=config, as_of=as_of, dry_run=dry_run,
                   batch_size=batch_size, fire_batch=fire_batch)
    logger = run_logger()
    logger.info("sweep as of %s: %d hazards, %d steps %s, %d lesser steps skipped", report.as_of, report.hazards,
                report.events, report.by_step, report.skipped)
    for year in calendar.provisional_years():
        logger.warning("calendar year %s is provisional: statutory holidays only, no 调休", year)
    return {"as_of": report.as_of.isoformat(), "hazards": report.hazards, "events": report.events,
            "by_step": report.by_step, "skipped": report.skipped, "batches": report.batches, "retried": report.retried,
            "dry_run": dry_run}
