"""What every flow needs from the service, built from settings once per process."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy.orm import Session, sessionmaker

from db.engine import UnitOfWork, make_engine, make_session_factory
from services.kernel.settings import get_settings


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


# A run's tags travel in each of its state-change events as related resources, and Prefect refuses
# an event with more than 100 of those (PREFECT_EVENTS_MAXIMUM_RELATED_RESOURCES): the event is
# dropped with an error. The flow run, flow, deployment, work queue, work pool and their tags take
# a few, so a run works on at most this many hazards, and carries every one's tag.
HAZARDS_PER_RUN = 80


def hazard_tags(codes: list[str]) -> list[str]:
    """`hazard:<code>` for each hazard a run works on, so the Prefect UI filters a hazard's
    lifecycle by tag. Callers split their work so that a run has at most `HAZARDS_PER_RUN`
    hazards; more is a bug, not something to cut silently."""
    tags = [f"hazard:{code}" for code in sorted(set(codes))]
    if len(tags) > HAZARDS_PER_RUN:
        raise ValueError(f"a run works on at most {HAZARDS_PER_RUN} hazards, not {len(tags)}")
    return tags


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
