"""What every flow needs from the service, built from settings once per process."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from db.engine import UnitOfWork, make_engine, make_session_factory
from services.kernel.settings import get_settings

log = structlog.get_logger("hazard.flows")


@lru_cache(maxsize=1)
def session_factory() -> sessionmaker[Session]:
    """The flow process's engine (built once), with the service's structured logging on stderr."""
    from services.kernel import logs

    settings = get_settings()
    logs.configure(settings.log_level)
    return make_session_factory(make_engine(settings.database_url, pool_size=4, max_overflow=4))


def unit_of_work() -> UnitOfWork:
    """Units of work on the flow process's engine, for the service's batch jobs."""
    return UnitOfWork(session_factory())


_channels: tuple[object, list] | None = None
_channels_lock = threading.Lock()


def channels() -> list:
    """The delivery channels of the flow process, built once per settings and shared by its
    delivery threads (each channel may be used from several threads at once), so the webhook
    client keeps its connections to the receivers from one batch to the next. A client per batch
    opened new connections each time and, at a few hundred a second, had a receiver's full accept
    queue reset some of them (bench/outbox)."""
    from services.notify.channels import default_channels

    global _channels
    settings = get_settings()
    with _channels_lock:
        if _channels is None or _channels[0] is not settings:
            if _channels is not None:
                for channel in _channels[1]:
                    getattr(channel, "close", lambda: None)()
            _channels = (settings, default_channels(settings))
        return _channels[1]


# An event may relate at most 100 resources (PREFECT_EVENTS_MAXIMUM_RELATED_RESOURCES; the server
# refuses more and the event is lost). Prefect's events worker adds the run context's resources to
# each event (flow run, flow, deployment, work queue, work pool and their tags), so the hazards of
# one event leave room for those.
HAZARDS_PER_EVENT = 80


def relate_hazards(event: str, codes: Iterable[str], payload: dict[str, Any] | None = None) -> int:
    """Relate the current task run to the hazards it worked on, as Prefect events (`event` on
    resource `prefect.task-run.<id>`, each hazard a related resource `hazard.<code>` with role
    `hazard`), at most `HAZARDS_PER_EVENT` hazards an event. A batch run carries no per-hazard tag
    (a tag costs Prefect time per hazard, and a run's tags must fit in each of its state events);
    the Prefect UI's event feed filtered by `hazard.<code>` finds the runs instead.

    Best effort, never in the way of the work: called after the work committed; outside a task run
    (`.fn()`, the CLI) nothing is sent (and no ephemeral Prefect server is started); an event the
    client refuses (more than 100 related resources: logged by Prefect, None returned; too large:
    raised, logged here) is skipped; with the server down, `emit_event` still returns at once (it
    only queues) and Prefect's events worker logs that it cannot connect and drops what it holds
    (checked on prefect 3.8.8). Returns how many events were handed to Prefect."""
    from prefect.context import TaskRunContext

    ctx = TaskRunContext.get()
    unique = list(dict.fromkeys(codes))
    if ctx is None or not unique:
        return 0
    from prefect.events import emit_event

    resource = {"prefect.resource.id": f"prefect.task-run.{ctx.task_run.id}",
                "prefect.resource.name": ctx.task_run.name}
    parts = [unique[i:i + HAZARDS_PER_EVENT] for i in range(0, len(unique), HAZARDS_PER_EVENT)]
    sent = 0
    for n, part in enumerate(parts, 1):
        related = [{"prefect.resource.id": f"hazard.{code}", "prefect.resource.role": "hazard",
                    "prefect.resource.name": code} for code in part]
        try:
            emitted = emit_event(event, resource=resource, related=related,
                                 payload={**(payload or {}), "hazards": len(part), "part": n, "parts": len(parts)})
        except Exception as exc:  # noqa: BLE001 - an event is a view; the work is done and committed
            log.warning("prefect_event_not_sent", prefect_event=event, hazards=len(part), error=repr(exc))
            continue
        sent += emitted is not None
    return sent


def run_logger():
    """The run's logger inside a flow or task run (shown in the Prefect UI); a plain logger when the
    logic is called directly (`.fn()` in tests, the CLI)."""
    import logging

    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("hazard.flows")
