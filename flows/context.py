"""What every flow needs from the service, built from settings once per process."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_session_factory
from services.settings import get_settings


@lru_cache(maxsize=1)
def session_factory() -> sessionmaker[Session]:
    """The flow process's engine (built once), with the service's structured logging on stderr."""
    from services import logs

    settings = get_settings()
    logs.configure(settings.log_level)
    return make_session_factory(make_engine(settings.database_url, pool_size=4, max_overflow=4))


def hazard_tags(codes: list[str], limit: int = 50) -> list[str]:
    """`hazard:<code>` for each hazard a run works on, so the Prefect UI filters a hazard's
    lifecycle by tag. Runs are batched; a batch carries at most `limit` hazards' tags."""
    return [f"hazard:{code}" for code in sorted(set(codes))[:limit]]


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
