"""The web UI's login throttle: failures are counted per (username, client) and per client across
usernames. Nobody can lock a person out from elsewhere (a lock binds only the client that failed),
and one client trying many usernames is stopped by its own limit. Usernames are counted whether
they exist or not, so a lock says nothing about who exists. app/web/session.py's `login` asks it.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from db.engine import transaction
from db.models import LoginThrottle

log = structlog.get_logger("hazard.web.session")

MAX_FAILURES = 5  # per (username, client) within LOCK
CLIENT_MAX_FAILURES = 20  # per client across usernames within LOCK
LOCK = timedelta(minutes=15)

_CREATE_THROTTLE = {
    name: dialect.insert(LoginThrottle.__table__).on_conflict_do_nothing()
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def keys(username: str, client: str) -> tuple[str, str]:
    """The counters a login attempt touches: (this username from this client, this client)."""
    return _digest("login:" + username.strip().lower() + "|" + client), _digest("login-client:" + client)


def lock_left(session: Session, keys: tuple[str, ...], now: datetime) -> timedelta | None:
    """How long the longest lock on any of `keys` still runs, or None when none holds."""
    rows = session.execute(select(LoginThrottle.locked_until).where(LoginThrottle.username_key.in_(keys))).all()
    left = [r.locked_until - now for r in rows if r.locked_until is not None and r.locked_until > now]
    return max(left) if left else None


def locked_message(left: timedelta) -> str:
    minutes = max(1, math.ceil(left.total_seconds() / 60))
    return f"登录失败次数过多，请 {minutes} 分钟后再试"


def record_failure(factory: sessionmaker[Session], keys: tuple[str, str], now: datetime) -> timedelta | None:
    """Count one failure on each counter of `keys` (the username's against `MAX_FAILURES`, the
    client's against `CLIENT_MAX_FAILURES`) under the row lock (FOR UPDATE on PostgreSQL; SQLite
    writers are serialised), so concurrent failures are each counted once. Returns the lock this
    failure imposed, if any."""
    limits = ((keys[0], MAX_FAILURES), (keys[1], CLIENT_MAX_FAILURES))
    imposed: timedelta | None = None
    with transaction(factory) as session:
        conn = session.connection()
        for key, limit in limits:
            conn.execute(_CREATE_THROTTLE[conn.dialect.name],
                         {"username_key": key, "failures": 0, "window_start": now, "locked_until": None})
            row = session.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
            assert row is not None
            if row.locked_until is not None and row.locked_until <= now or row.window_start < now - LOCK:
                row.failures, row.window_start, row.locked_until = 0, now, None
            row.failures += 1
            if row.failures >= limit and row.locked_until is None:
                row.locked_until = now + LOCK
            if row.locked_until is not None and row.locked_until > now:
                imposed = max(imposed or timedelta(0), row.locked_until - now)
        session.flush()
    log.info("web_login_failed", key=limits[0][0][:12], locked=imposed is not None)
    return imposed


def clear(session: Session, keys: tuple[str, str], now: datetime) -> None:
    """A successful login restarts its username's count (the client's keeps counting)."""
    session.execute(update(LoginThrottle).where(LoginThrottle.username_key == keys[0])
                    .values(failures=0, locked_until=None, window_start=now))
