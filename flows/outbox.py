"""Stage work and delivery after each committed action (every minute, batched).

1. Stage: the pending outbox rows are expanded into deliveries (whom to notify, on which channel,
   reminders grouped into one digest per recipient and sweep day) by `services.outbox.expand.expand`. The
   flow takes the oldest pending rows, up to `STAGE_BATCH` of them, and stages exactly those rows in
   one task run named after its first hazard; never one flow run per event. The run carries no
   per-hazard tag: it emits `hazard.batch.staged` events relating it to its hazards
   (`flows.context.relate_hazards`).
2. Deliver: due deliveries are claimed in batches and sent (`services.outbox.deliver.deliver`), with
   retries, backoff and dead letters handled there. Delivery runs on a few threads while staging
   goes on (each one's database and Prefect waits overlap the others' work), except the
   escalation digests, which wait for staging to end.

Both steps are idempotent (dedupe keys, claims), so a retried or overlapping run does no harm.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from prefect import flow, task

from db.engine import read_only, transaction
from flows.context import channels, relate_hazards, run_logger, session_factory, unit_of_work
from flows.documents import issue_all
from services.outbox import deliver as outbox_deliver, expand as outbox_expand
from services.kernel.clock import utcnow
from services.kernel.settings import get_settings

# Each task run costs Prefect (client and server) some milliseconds; 125 of them for 20,000
# deliveries were a share of their own (bench/outbox). A stage run takes this many rows; a deliver
# run up to DELIVER_ROUNDS batches (each batch its own claim and lease), while they come back full.
STAGE_BATCH = 500
DELIVER_BATCH = 400
DELIVER_ROUNDS = 5
DELIVER_WORKERS = 2  # delivery threads of one flow run (bench/outbox)
TIME_BUDGET_SECONDS = 45.0  # the flow runs every minute; leave the next run room


def next_stage(now: datetime, rows: int = STAGE_BATCH) -> tuple[list[int], list[str]]:
    """The oldest pending rows, at most `rows` of them, and their hazards' codes, each once
    (`services.outbox.expand.next_stage`)."""
    with read_only(session_factory()) as session:
        batch = outbox_expand.next_stage(session, now=now, rows=rows)
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
    `codes`, their hazards, name the run and, once the rows are committed, its events."""
    with transaction(session_factory()) as session:
        report = outbox_expand.expand(session, now=utcnow(), limit=len(ids), settings=get_settings(), ids=ids)
    staged = {"messages": report.messages, "deliveries": report.deliveries}
    relate_hazards("hazard.batch.staged", codes, staged)
    return staged


def _task_name() -> str:
    from prefect.runtime import task_run

    return _stage_name(task_run.parameters)


@task(name="deliver", task_run_name="deliver")
def deliver(batch_size: int = DELIVER_BATCH, digests: bool = True, rounds: int = DELIVER_ROUNDS) -> dict[str, int]:
    """Up to `rounds` delivery batches on the process's channels (`flows.context.channels`), while
    each comes back full: a batch that is not full means the queue is drained for now."""
    totals = {"claimed": 0, "sent": 0, "failed": 0, "dead": 0}
    for _ in range(rounds):
        report = outbox_deliver.deliver(unit_of_work(), channels(), now=utcnow(), settings=get_settings(),
                                        batch_size=batch_size, digests=digests)
        for k in totals:
            totals[k] += getattr(report, k)
        if report.claimed < batch_size:
            break
    return totals


def _run_name() -> str:
    from services.kernel.clock import SHANGHAI

    return f"outbox {utcnow().astimezone(SHANGHAI):%m-%d %H:%M}"


def stage_and_deliver(stage_run: Callable[[list[int], list[str]], dict[str, int]],
                      deliver_run: Callable[..., dict[str, int]], started: float, time_budget: float) -> dict[str, int]:
    """Stage and deliver side by side: a thread stages while `DELIVER_WORKERS` threads (this one
    among them) deliver what is staged, so that one's database waits overlap another's work; their
    claims never overlap (services.outbox.deliver). A worker that finds nothing due waits for the
    next stage run, not a fixed time. Escalation digests wait until staging is over, so a day's
    escalations staged in this run go out in one digest. `stage_run` and `deliver_run` are the
    tasks (the flow) or their plain functions (`.fn`: bench/outbox's in-process reference)."""
    totals = {"messages": 0, "deliveries": 0, "claimed": 0, "sent": 0, "failed": 0, "dead": 0}
    staged_all = threading.Event()
    progress = threading.Condition()
    stages = [0]  # stage runs done; guarded by `progress`, as `totals` is
    failures: list[BaseException] = []

    def in_time() -> bool:
        return time.monotonic() - started < time_budget

    def add(counts: dict[str, int]) -> None:
        with progress:
            for k, v in counts.items():
                totals[k] += v

    def stage_all() -> None:
        try:
            while in_time():
                ids, codes = next_stage(utcnow())
                if not ids:
                    break
                add(stage_run(ids, codes))
                with progress:
                    stages[0] += 1
                    progress.notify_all()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, raised there
            failures.append(exc)
        finally:
            staged_all.set()
            with progress:
                progress.notify_all()

    def deliver_all() -> None:
        try:
            while in_time() and not failures:
                done, seen = staged_all.is_set(), stages[0]
                sent = deliver_run(digests=done)
                add(sent)
                if sent["claimed"] == 0:
                    if done:
                        break
                    with progress:
                        progress.wait_for(lambda: stages[0] != seen or staged_all.is_set(), timeout=1.0)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, raised there
            failures.append(exc)

    # each thread runs in its own copy of this context, which carries the flow run: their task
    # runs belong to it
    threads = [threading.Thread(target=contextvars.copy_context().run, args=(stage_all,), name="outbox-stage")]
    threads += [threading.Thread(target=contextvars.copy_context().run, args=(deliver_all,), name=f"outbox-deliver-{i}")
                for i in range(1, DELIVER_WORKERS)]
    for thread in threads:
        thread.start()
    try:
        deliver_all()
    finally:
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
    return totals


@flow(name="outbox", flow_run_name=_run_name, log_prints=False)
def outbox_delivery(time_budget: float = TIME_BUDGET_SECONDS) -> dict[str, int]:
    """The documents first (flows/documents.py), then staging and delivery side by side
    (`stage_and_deliver`), within the time budget."""
    started = time.monotonic()
    documents = issue_all(started, time_budget)["issued"]
    totals = {**stage_and_deliver(stage, deliver, started, time_budget), "documents": documents}
    run_logger().info("outbox: %s", totals)
    return totals
