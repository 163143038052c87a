"""The web UI's login throttle: failures are counted per (username, client) and per client across
usernames. Nobody can lock a person out from elsewhere (a lock binds only the client that failed),
and one client trying many usernames is stopped by its own limit. Usernames are counted whether
they exist or not, so a lock says nothing about who exists. app/web/session.py's `login` asks it;
the counters themselves are services/accounts/login_throttle.py's (`lock_left` tells a lock's time).
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker

from db.engine import transaction
from services.accounts import login_throttle as counters

log = structlog.get_logger("hazard.web.session")

MAX_FAILURES = 5  # per (username, client) within LOCK
CLIENT_MAX_FAILURES = 20  # per client across usernames within LOCK
LOCK = timedelta(minutes=15)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def keys(username: str, client: str) -> tuple[str, str]:
    """The counters a login attempt touches: (this username from this client, this client)."""
    return _digest("login:" + username.strip().lower() + "|" + client), _digest("login-client:" + client)


def locked_message(left: timedelta) -> str:
    minutes = max(1, math.ceil(left.total_seconds() / 60))
    return f"登录失败次数过多，请 {minutes} 分钟后再试"


def record_failure(factory: sessionmaker[Session], keys: tuple[str, str], now: datetime) -> timedelta | None:
    """Count one failure on each counter of `keys` (the username's against `MAX_FAILURES`, the
    client's against `CLIENT_MAX_FAILURES`) under the row lock (FOR UPDATE on PostgreSQL; SQLite
    writers are serialised), so concurrent failures are each counted once. Returns the lock this
    failure imposed, if any."""
    limits = ((keys[0], MAX_FAILURES), (keys[1], CLIENT_MAX_FAILURES))
    with transaction(factory) as session:  # its own unit: the failure counts though the login is refused
        imposed = counters.count_failures(session, limits, now, LOCK)
    log.info("web_login_failed", key=limits[0][0][:12], locked=imposed is not None)
    return imposed


def clear(session: Session, keys: tuple[str, str], now: datetime) -> None:
    """A successful login restarts its username's count (the client's keeps counting)."""
    counters.clear(session, keys[0], now)
