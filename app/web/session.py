"""Web UI login sessions, CSRF and the login throttle.

The browser holds a random session token in an HttpOnly, SameSite=Lax cookie; the database keeps
only its SHA-256, so neither a copy of the table nor a log line logs anyone in. A session ends when
it is idle for `IDLE`, at `ABSOLUTE` after login, at logout, or when its user is disabled (checked on
every request, and the user's sessions are then revoked so re-enabling does not revive them).

CSRF: every POST form carries the session's `csrf_token`, compared in constant time. The login form
has no session yet, so it uses a signed double-submit token: a cookie and a hidden field that must
match and carry an HMAC of the deployment's secret (a cookie planted by a sibling domain fails).

Throttle: failures are counted per (username, client), whether the username exists or not, and per
client across usernames (see the throttle section); an unknown username costs one argon2
verification, like a known one.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import quote, urlsplit

import structlog
from fastapi import Depends, Request
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from db.engine import read_only, transaction
from db.models import LoginThrottle, User, WebSession
from services.accounts.auth import Principal, hash_password, principal_of, verify_password

log = structlog.get_logger("hazard.web.session")

SESSION_COOKIE = "hz_session"
LOGIN_CSRF_COOKIE = "hz_login_csrf"
IDLE = timedelta(hours=8)
ABSOLUTE = timedelta(hours=12)
TOUCH_AFTER = timedelta(minutes=1)  # last_seen_at is written at most this often per session
MAX_FAILURES = 5  # per (username, client) within LOCK
CLIENT_MAX_FAILURES = 20  # per client across usernames within LOCK
LOCK = timedelta(minutes=15)
GENERIC_FAILURE = "用户名或密码错误"


class LoginRequired(Exception):
    """Not logged in: answered with 303 to the login page (app.web.errors)."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfFailed(Exception):
    """A POST without the right form token: answered with a 403 page in Chinese."""


class LoginFailed(Exception):
    """`retry_after` is set when a lock holds: the page says how long, and answers 429."""

    def __init__(self, message: str, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class Live:
    principal: Principal
    session_id: int
    csrf_token: str


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _ctx(request: Request):
    return request.app.state.ctx


# --- next= ----------------------------------------------------------------------------------------


def safe_next(value: str | None) -> str:
    """Only a same-site absolute path: `//evil`, `/\\evil`, `https://…` and control characters all
    fall back to the 待办 page."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(safe_next(next_path), safe="/")


# --- throttle -------------------------------------------------------------------------------------
# Failures are counted per (username, client) and per client across usernames. Nobody can lock a
# person out from elsewhere (a lock binds only the client that failed), and one client trying many
# usernames is stopped by its own limit. Usernames are counted whether they exist or not, so a lock
# says nothing about who exists.


def _username_key(username: str, client: str) -> str:
    return digest("login:" + username.strip().lower() + "|" + client)


def _client_key(client: str) -> str:
    return digest("login-client:" + client)


_CREATE_THROTTLE = {
    name: dialect.insert(LoginThrottle.__table__).on_conflict_do_nothing()
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def _lock_left(session: Session, keys: tuple[str, ...], now: datetime) -> timedelta | None:
    """How long the longest lock on any of `keys` still runs, or None when none holds."""
    rows = session.execute(select(LoginThrottle.locked_until).where(LoginThrottle.username_key.in_(keys))).all()
    left = [r.locked_until - now for r in rows if r.locked_until is not None and r.locked_until > now]
    return max(left) if left else None


def locked_message(left: timedelta) -> str:
    minutes = max(1, math.ceil(left.total_seconds() / 60))
    return f"登录失败次数过多，请 {minutes} 分钟后再试"


def _record_failure(factory: sessionmaker[Session], limits: tuple[tuple[str, int], ...], now: datetime,
                    ) -> timedelta | None:
    """Count one failure on each (key, limit) under the row lock (FOR UPDATE on PostgreSQL; SQLite
    writers are serialised), so concurrent failures are each counted once. Returns the lock this
    failure imposed, if any."""
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


_dummy_hash: dict[int, str] = {}


def prepare_dummy_hash() -> None:
    """Compute the stand-in hash an unknown username is checked against, once per hasher, before
    the first login: so every attempt costs exactly one argon2 verification, known user or not."""
    from services.accounts import auth

    if id(auth._hasher) not in _dummy_hash:
        _dummy_hash[id(auth._hasher)] = hash_password(secrets.token_urlsafe(16))


def _verify(stored: str | None, password: str) -> bool:
    """One argon2 verification whether the user exists or not (no timing difference)."""
    if not stored:
        from services.accounts import auth

        prepare_dummy_hash()
        verify_password(_dummy_hash[id(auth._hasher)], password)
        return False
    return verify_password(stored, password)


# --- sessions -------------------------------------------------------------------------------------


def login(factory: sessionmaker[Session], username: str, password: str, *, now: datetime,
          client: str = "unknown") -> tuple[str, Live]:
    """Check the credentials and open a session; returns (cookie token, session). Raises
    `LoginFailed` with the same message for an unknown user, a wrong password or a disabled user;
    while a lock holds for this (username, client) or this client, with how long it still runs."""
    keys = (_username_key(username, client), _client_key(client))
    with read_only(factory) as session:
        left = _lock_left(session, keys, now)
        if left is not None:
            log.info("web_login_locked", key=keys[0][:12])
            raise LoginFailed(locked_message(left), retry_after=left)
        user = session.execute(select(User).where(User.username == username.strip())).scalar_one_or_none()
        # read_only rolls back, which expires the row: take what is needed while it is loaded
        stored = user.password_hash if user is not None else None
        usable = user is not None and user.active and user.role != "system"
        principal = principal_of(user) if user is not None else None
    ok = _verify(stored, password) and usable
    if not ok or principal is None:
        imposed = _record_failure(factory, ((keys[0], MAX_FAILURES), (keys[1], CLIENT_MAX_FAILURES)), now)
        if imposed is not None:
            raise LoginFailed(locked_message(imposed), retry_after=imposed)
        raise LoginFailed(GENERIC_FAILURE)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    with transaction(factory) as session:
        left = _lock_left(session, keys, now)
        if left is not None:  # a lock that landed while the password was checked
            raise LoginFailed(locked_message(left), retry_after=left)
        session.execute(update(LoginThrottle).where(LoginThrottle.username_key == keys[0])
                        .values(failures=0, locked_until=None, window_start=now))
        row = WebSession(token_hash=digest(token), user_id=principal.id, csrf_token=csrf, created_at=now,
                         last_seen_at=now, expires_at=now + ABSOLUTE)
        session.add(row)
        session.flush()
        live = Live(principal, row.id, csrf)
    log.info("web_login", user=principal.username, session_id=live.session_id)
    return token, live


def lookup(factory: sessionmaker[Session], token: str, *, now: datetime) -> Live | None:
    with read_only(factory) as session:
        found = session.execute(
            select(WebSession, User).join(User, User.id == WebSession.user_id)
            .where(WebSession.token_hash == digest(token))
        ).first()
        if found is None:
            return None
        row, user = found
        live = Live(principal_of(user), row.id, row.csrf_token)
        dead = row.revoked_at is not None or row.expires_at <= now or row.last_seen_at + IDLE <= now
        active, last_seen = user.active, row.last_seen_at
    if dead:
        return None
    if not active:
        with transaction(factory) as session:
            end_user_sessions(session, live.principal.id or 0, now=now)
        log.info("web_session_ended_disabled_user", user=live.principal.username)
        return None
    if now - last_seen >= TOUCH_AFTER:
        with transaction(factory) as session:
            session.execute(update(WebSession).where(WebSession.id == live.session_id,
                                                     WebSession.revoked_at.is_(None)).values(last_seen_at=now))
    return live


def logout(factory: sessionmaker[Session], token: str, *, now: datetime) -> None:
    with transaction(factory) as session:
        session.execute(update(WebSession).where(WebSession.token_hash == digest(token),
                                                 WebSession.revoked_at.is_(None)).values(revoked_at=now))


def end_user_sessions(session: Session, user_id: int, *, now: datetime) -> int:
    """Revoke every live session of a user (disabled, password changed); returns how many."""
    result = session.execute(update(WebSession).where(WebSession.user_id == user_id,
                                                      WebSession.revoked_at.is_(None)).values(revoked_at=now))
    return result.rowcount


# --- cookies --------------------------------------------------------------------------------------


def secure_cookies(request: Request) -> bool:
    return request.url.scheme == "https" or bool(_ctx(request).settings.web_secure_cookies)


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=int(ABSOLUTE.total_seconds()), path="/",
                        httponly=True, samesite="lax", secure=secure_cookies(request))


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=secure_cookies(request))


def _sign(request: Request, purpose: str, value: str) -> str:
    secret = _ctx(request).settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def login_csrf(request: Request) -> str:
    """The login form's token: the browser's current one when it is valid, else a new one."""
    current = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if _login_token_valid(request, current):
        return current
    nonce = secrets.token_urlsafe(24)
    return f"{nonce}.{_sign(request, 'login-csrf', nonce)}"


def _login_token_valid(request: Request, token: str) -> bool:
    nonce, _, sig = token.partition(".")
    return bool(nonce and sig) and hmac.compare_digest(sig, _sign(request, "login-csrf", nonce))


def set_login_csrf_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, path="/", httponly=True, samesite="lax",
                        secure=secure_cookies(request))


def check_login_csrf(request: Request, submitted: str) -> None:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not (cookie and submitted and hmac.compare_digest(cookie.encode(), submitted.encode())
            and _login_token_valid(request, cookie)):
        log.info("web_csrf_refused", path=request.url.path, stage="login")
        raise CsrfFailed()


# --- dependencies ---------------------------------------------------------------------------------


def _current(request: Request) -> Live | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    ctx = _ctx(request)
    return lookup(ctx.factory, token, now=ctx.now())


async def optional_live(request: Request) -> Live | None:
    if not hasattr(request.state, "web_live"):
        request.state.web_live = await run_in_threadpool(_current, request)
    return request.state.web_live


async def web_user(request: Request, live: Annotated[Live | None, Depends(optional_live)]) -> Principal:
    if live is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target if request.method == "GET" else "/")
    return live.principal


WebUser = Annotated[Principal, Depends(web_user)]
OptionalLive = Annotated[Live | None, Depends(optional_live)]


async def csrf_checked(request: Request, user: WebUser) -> None:
    """The form's `csrf_token` must equal the session's (constant-time compare)."""
    live: Live = request.state.web_live
    form = await request.form()  # Starlette caches it: the route reads the same form again
    submitted = form.get("csrf_token")
    if not isinstance(submitted, str) or not hmac.compare_digest(submitted.encode(), live.csrf_token.encode()):
        log.info("web_csrf_refused", path=request.url.path, user=user.username)
        raise CsrfFailed()


# Use as a parameter (`_: CsrfChecked`) or in `dependencies=[Depends(csrf_checked)]`.
CsrfChecked = Annotated[None, Depends(csrf_checked)]
