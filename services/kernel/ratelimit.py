"""Fixed-window request counters shared by every API process (table `rate_buckets`).

One statement bumps a bucket and restarts it when its window has run out, under the row's lock, so
concurrent requests are each counted once however many processes answer them. Used where a limit
must hold across processes and restarts: the public tracking-code lookups per client.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.base import UTCDateTime
from db.models import RateBucket

_T = RateBucket.__table__
_NOW = bindparam("now", type_=UTCDateTime())
_CREATE = {
    name: dialect.insert(_T).values(bucket=bindparam("bucket_key"), window_start=_NOW, hits=0)
    .on_conflict_do_nothing()
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_expired = _T.c.window_start <= bindparam("expired", type_=UTCDateTime())
_BUMP = (
    update(_T).where(_T.c.bucket == bindparam("bucket_key"))
    .values(hits=case((_expired, 1), else_=_T.c.hits + 1),
            window_start=case((_expired, _NOW), else_=_T.c.window_start))
    .returning(_T.c.hits, _T.c.window_start)
)


def bucket_key(purpose: str, who: str) -> str:
    """A bucket name of fixed length: what it counts and for whom (already a keyed hash)."""
    return hashlib.sha256(f"{purpose}:{who}".encode()).hexdigest()


def hit(session: Session, bucket: str, *, limit: int, window: timedelta, now: datetime) -> int | None:
    """Count one request; None when it is within `limit` per `window`, else the seconds to wait."""
    conn = session.connection()
    conn.execute(_CREATE[conn.dialect.name], {"bucket_key": bucket, "now": now})
    hits, start = conn.execute(_BUMP, {"bucket_key": bucket, "now": now, "expired": now - window}).one()
    if hits <= limit:
        return None
    return max(1, math.ceil((start + window - now).total_seconds()))


def purge(session: Session, *, before: datetime) -> int:
    """Drop buckets whose window started before `before` (they would restart anyway)."""
    return session.execute(delete(RateBucket).where(RateBucket.window_start < before)).rowcount
