"""Issue the official documents the committed actions asked for (a step of the `outbox` flow).

Like staging, the work is cut into task runs of at most `DOCUMENT_BATCH` rows, each named after its
first hazard. A run carries no per-hazard tag: once its documents are issued it emits
`hazard.batch.documents` events relating it to its hazards (`flows.context.relate_hazards`).
Issuing is idempotent (services.documents.engine), so an overlapping or retried
run issues nothing twice.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import task

from flows.context import relate_hazards, unit_of_work
from services import documents
from services.kernel.clock import utcnow

DOCUMENT_BATCH = 200


def _name(parameters: dict[str, Any]) -> str:
    codes = parameters["codes"]
    more = f" (+{len(codes) - 1})" if len(codes) > 1 else ""
    return f"documents {codes[0]}{more}" if codes else "documents"


def _task_name() -> str:
    from prefect.runtime import task_run

    return _name(task_run.parameters)


@task(name="documents", task_run_name=lambda: _task_name())
def issue(ids: list[int], codes: list[str]) -> dict[str, int]:
    """Issue the documents of these outbox rows (those still pending); `codes` name the run and
    its events."""
    report = documents.issue_pending(unit_of_work(), now=utcnow(), limit=len(ids), ids=ids)
    done = {"issued": report.issued, "failed": report.failed}
    relate_hazards("hazard.batch.documents", codes, done)
    return done


def issue_all(started: float, time_budget: float) -> dict[str, int]:
    """Task runs until no document is pending or the flow's time budget is spent. Rows that failed
    wait for their backoff, so they are not picked again in this pass."""
    totals = {"issued": 0, "failed": 0}
    while time.monotonic() - started < time_budget:
        # the rows bound the batch; its hazards are not capped (no tags to fit into an event)
        ids, codes = documents.next_batch(unit_of_work(), utcnow(), DOCUMENT_BATCH, DOCUMENT_BATCH)
        if not ids:
            break
        done = issue(ids, codes)
        for k, v in done.items():
            totals[k] += v
        if done["issued"] == 0 and done["failed"] == 0:
            break  # another run took them all
    return totals
