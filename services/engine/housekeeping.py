"""What the service forgets on purpose, once a day (flow `housekeeping`): stored answers of
requests with an Idempotency-Key after their retention, request counters whose window is long over,
and login throttles nobody has tripped for a day. None of it is part of the record: the audit
trail, the hazards and the documents are never touched here."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_
from sqlalchemy.orm import Session

from db.models import LoginThrottle
from services.engine import commands
from services.kernel import ratelimit

STALE = timedelta(days=1)  # counters and throttles older than this would have restarted anyway


@dataclass
class Purged:
    idempotency_keys: int
    rate_buckets: int
    login_throttles: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def purge(session: Session, *, now: datetime, idempotency_retention: timedelta) -> Purged:
    throttles = session.execute(delete(LoginThrottle).where(
        LoginThrottle.window_start < now - STALE,
        or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now),
    )).rowcount
    return Purged(
        idempotency_keys=commands.purge_idempotency_keys(session, now=now, retention=idempotency_retention),
        rate_buckets=ratelimit.purge(session, before=now - STALE),
        login_throttles=throttles,
    )
