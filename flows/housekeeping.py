"""The daily `housekeeping` flow: purge idempotency keys past HAZARD_IDEMPOTENCY_RETENTION_DAYS,
stale request counters and login throttles (services/engine/housekeeping.py). Idempotent: a second run
the same day finds nothing left to purge."""

from __future__ import annotations

from datetime import timedelta

from prefect import flow

from db.engine import transaction
from flows.context import run_logger, session_factory
from services.engine import housekeeping
from services.kernel.clock import utcnow
from services.kernel.settings import get_settings


@flow(name="housekeeping", flow_run_name="housekeeping")
def housekeeping_flow() -> dict[str, int]:
    retention = timedelta(days=get_settings().idempotency_retention_days)
    with transaction(session_factory()) as session:
        purged = housekeeping.purge(session, now=utcnow(), idempotency_retention=retention)
    run_logger().info("purged %s", purged.as_dict())
    return purged.as_dict()
