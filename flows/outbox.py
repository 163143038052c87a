"""Stage work and delivery after each committed action (every minute, batched).

1. Stage: the pending outbox rows are expanded into deliveries (whom to notify, on which channel,
   reminders grouped into one digest per recipient and sweep day) by `services.outbox.expand.expand`. The
   flow takes the oldest pending rows up to `STAGE_BATCH` rows and `HAZARDS_PER_RUN` hazards, and
   stages exactly those rows in one task run named after its hazards and tagged `hazard:<code>` for
   every one of them, so the Prefect UI shows a hazard's lifecycle; never one flow run per event.
2. Deliver: due deliveries are claimed in batches and sent (`services.outbox.deliver.deliver`), with
   retries, backoff and dead letters handled there. Delivery runs while staging goes on (a
   tagged task run costs Prefect more than an untagged one, and this hides it), except the
   escalation digests, which wait for staging to end.

Both steps are idempotent (dedupe keys, claims), so a retried or overlapping run does no harm.
"""

from __future__ import annotations

import contextvars
import threading
import time
from datetime import datetime
from typing import Any

from prefect import flow, tags, task

from db.engine import read_only, transaction
from flows.context import HAZARDS_PER_RUN, hazard_tags, run_logger, session_factory, unit_of_work
from flows.documents import issue_all
from services.notify.channels import default_channels
from services.outbox import deliver as outbox_deliver, expand as outbox_expand
from services.kernel.clock import utcnow
from services.kernel.settings import get_settings

STAGE_BATCH = 200
DELIVER_BATCH = 200
TIME_BUDGET_SECONDS = 45.0  # the flow runs every minute; leave the next run room


def next_stage(now: datetime, rows: int = STAGE_BATCH, hazards: int | None = None) -> tuple[list[int], list[str]]:
    """The oldest pending rows, at most `rows` of them about at most `hazards` hazards (default
    `HAZARDS_PER_RUN`; rows about no hazard, such as alerts, come along), and those hazards' codes
    (`services.outbox.expand.next_stage`)."""
    hazards = hazards or HAZARDS_PER_RUN
    with read_only(session_factory()) as session:
        batch = outbox_expand.next_stage(session, now=now, rows=rows, hazards=hazards)
    return batch.ids, batch.codes


def _stage_name(parameters: dict[str, Any]) -> str:
    codes = parameters["codes"]
    if not codes:
        return "stage (no hazard)"
    more = f" (+{len(codes) - 1})" if len(codes) > 1 else ""
    return f"stage {codes[0]}{more}"


@task(name="stage", task_run_name=lambda: _task_name())
def stage(ids: list[int], codes: list[str]) -> dict[str, int]:
    """Expand these outbox rows (those still pending: a concurrent run may have taken some).
    `codes`, their hazards, name the run; its tags carry them too."""
    with transaction(session_factory()) as session:
        report = outbox_expand.expand(session, now=utcnow(), limit=len(ids), settings=get_settings(), ids=ids)
    return {"messages": report.messages, "deliveries": report.deliveries}


def _task_name() -> str:
    from prefect.runtime import task_run

    return _stage_name(task_run.parameters)


@task(name="deliver", task_run_name="deliver")
def deliver(batch_size: int = DELIVER_BATCH, digests: bool = True) -> dict[str, int]:
    settings = get_settings()
    channels = default_channels(settings)
    try:
        report = outbox_deliver.deliver(unit_of_work(), channels, now=utcnow(), settings=settings,
                                        batch_size=batch_size, digests=digests)
    finally:
        for channel in channels:
            close = getattr(channel, "close", None)
            if close is not None:
                close()
    return {"claimed": report.claimed, "sent": report.sent, "failed": report.failed, "dead": report.dead}


def _run_name() -> str:
    from services.kernel.clock import SHANGHAI

    return f"outbox {utcnow().astimezone(SHANGHAI):%m-%d %H:%M}"


@flow(name="outbox", flow_run_name=_run_name, log_prints=False)
def outbox_delivery(time_budget: float = TIME_BUDGET_SECONDS) -> dict[str, int]:
    """Stage and deliver side by side: a thread stages while this one delivers what is staged, so
    the Prefect work of the tagged stage runs overlaps the sending. Escalation digests wait until
    staging is over, so a day's escalations staged in this run go out in one digest."""
    started = time.monotonic()
    totals = {"messages": 0, "deliveries": 0, "claimed": 0, "sent": 0, "failed": 0, "dead": 0}
    totals["documents"] = issue_all(started, time_budget)["issued"]  # flows/documents.py
    staged_all = threading.Event()
    failures: list[BaseException] = []

    def in_time() -> bool:
        return time.monotonic() - started < time_budget

    def stage_all() -> None:
        try:
            while in_time():
                ids, codes = next_stage(utcnow())
                if not ids:
                    break
                with tags(*hazard_tags(codes)):
                    staged = stage(ids, codes)
                for k, v in staged.items():
                    totals[k] += v
        except BaseException as exc:  # noqa: BLE001 - handed to the flow's thread, raised there
            failures.append(exc)
        finally:
            staged_all.set()

    # the copied context carries the flow run, so the stage task runs belong to it
    stager = threading.Thread(target=contextvars.copy_context().run, args=(stage_all,), name="outbox-stage")
    stager.start()
    try:
        while in_time():
            done = staged_all.is_set()
            sent = deliver(digests=done)
            for k, v in sent.items():
                totals[k] += v
            if sent["claimed"] == 0:
                if done:
                    break
                staged_all.wait(1.0)
    finally:
        stager.join()
    if failures:
        raise failures[0]
    run_logger().info("outbox: %s", totals)
    return totals
