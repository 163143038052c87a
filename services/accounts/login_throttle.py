"""The counters behind the web UI's login throttle (`login_throttles`): failures counted per key in a
window, and a lock once a key's limit is reached. Which keys and limits is app/web/login_throttle.py's
policy; the caller holds the transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.models import LoginThrottle

_CREATE_THROTTLE = {
    name: dialect.insert(LoginThrottle.__table__).on_conflict_do_nothing()
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def lock_left(session: Session, keys: tuple[str, ...], now: datetime) -> timedelta | None:
    """How long the longest lock on any of `keys` still runs, or None when none holds."""
    rows = session.execute(select(LoginThrottle.locked_until).where(LoginThrottle.username_key.in_(keys))).all()
    left = [r.locked_until - now for r in rows if r.locked_until is not None and r.locked_until > now]
    return max(left) if left else None


def count_failures(session: Session, limits: tuple[tuple[str, int], ...], now: datetime,
                   window: timedelta) -> timedelta | None:
    """Count one failure on each key of `limits` against its limit within `window` (which is also
    how long a lock lasts), under the row lock (FOR UPDATE on PostgreSQL; SQLite writers are
    serialised), so concurrent failures are each counted once. Returns the lock imposed, if any."""
    imposed: timedelta | None = None
    conn = session.connection()
    for key, limit in limits:
        conn.execute(_CREATE_THROTTLE[conn.dialect.name],
                     {"username_key": key, "failures": 0, "window_start": now, "locked_until": None})
        row = session.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
        assert row is not None
        if row.locked_until is not None and row.locked_until <= now or row.window_start < now - window:
            row.failures, row.window_start, row.locked_until = 0, now, None
        row.failures += 1
        if row.failures >= limit and row.locked_until is None:
            row.locked_until = now + window
        if row.locked_until is not None and row.locked_until > now:
            imposed = max(imposed or timedelta(0), row.locked_until - now)
    session.flush()
    return imposed


def clear(session: Session, key: str, now: datetime) -> None:
    """Restart the count of `key` (no failures, no lock, a new window from `now`)."""
    session.execute(update(LoginThrottle).where(LoginThrottle.username_key == key)
                    .values(failures=0, locked_until=None, window_start=now))
