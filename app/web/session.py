"""Web UI login sessions: logging in and out, the session behind each request, its cookie, and the
FastAPI dependencies that give a page its user (`WebUser`).

The browser holds a random session token in an HttpOnly, SameSite=Lax cookie; the database keeps
only its SHA-256, so neither a copy of the table nor a log line logs anyone in. A session ends when
it is idle for `IDLE`, at `ABSOLUTE` after login, at logout, or when its user is disabled (checked on
every request, and the user's sessions are then revoked so re-enabling does not revive them).

A login is refused alike for an unknown user, a wrong password or a disabled user; an unknown
username costs one argon2 verification, like a known one. Failures are counted and locks imposed
by app/web/login_throttle.py; forms are guarded by app/web/csrf.py.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import quote, urlsplit

import structlog
from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app.web import login_throttle as throttle
from db.engine import read_only, transaction
from services.accounts import login_throttle as counters, web_sessions
from services.accounts.auth import Principal, hash_password, verify_password

log = structlog.get_logger("hazard.web.session")

SESSION_COOKIE = "hz_session"
IDLE = timedelta(hours=8)
ABSOLUTE = timedelta(hours=12)
TOUCH_AFTER = timedelta(minutes=1)  # last_seen_at is written at most this often per session
GENERIC_FAILURE = "用户名或密码错误"


class LoginRequired(Exception):
    """Not logged in: answered with 303 to the login page (app.web.errors)."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


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


def ctx_of(request: Request):
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


# --- logging in -----------------------------------------------------------------------------------


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


def login(factory: sessionmaker[Session], username: str, password: str, *, now: datetime,
          client: str = "unknown") -> tuple[str, Live]:
    """Check the credentials and open a session; returns (cookie token, session). Raises
    `LoginFailed` with the same message for an unknown user, a wrong password or a disabled user;
    while a lock holds for this (username, client) or this client, with how long it still runs."""
    keys = throttle.keys(username, client)
    with read_only(factory) as session:  # its own unit: a login works apart from any route's `Db`
        left = counters.lock_left(session, keys, now)
        if left is not None:
            log.info("web_login_locked", key=keys[0][:12])
            raise LoginFailed(throttle.locked_message(left), retry_after=left)
        found = web_sessions.credentials(session, username)
    stored = found.password_hash if found is not None else None
    usable = found is not None and found.may_log_in
    principal = found.principal if found is not None else None
    ok = _verify(stored, password) and usable
    if not ok or principal is None:
        imposed = throttle.record_failure(factory, keys, now)
        if imposed is not None:
            raise LoginFailed(throttle.locked_message(imposed), retry_after=imposed)
        raise LoginFailed(GENERIC_FAILURE)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    with transaction(factory) as session:  # its own unit: committed before its cookie is set
        left = counters.lock_left(session, keys, now)
        if left is not None:  # a lock that landed while the password was checked
            raise LoginFailed(throttle.locked_message(left), retry_after=left)
        throttle.clear(session, keys, now)
        session_id = web_sessions.open_session(session, principal.id or 0, token_hash=digest(token), csrf_token=csrf,
                                               now=now, expires_at=now + ABSOLUTE)
        live = Live(principal, session_id, csrf)
    log.info("web_login", user=principal.username, session_id=live.session_id)
    return token, live


# --- sessions -------------------------------------------------------------------------------------


def lookup(factory: sessionmaker[Session], token: str, *, now: datetime) -> Live | None:
    with read_only(factory) as session:  # its own unit: run by `WebUser`, before the route's `Db`
        found = web_sessions.find(session, digest(token))
    if found is None:
        return None
    live = Live(found.principal, found.session_id, found.csrf_token)
    dead = found.revoked_at is not None or found.expires_at <= now or found.last_seen_at + IDLE <= now
    active, last_seen = found.user_active, found.last_seen_at
    if dead:
        return None
    if not active:
        with transaction(factory) as session:  # its own unit: committed though the request is refused
            web_sessions.end_user_sessions(session, live.principal.id or 0, now=now)
        log.info("web_session_ended_disabled_user", user=live.principal.username)
        return None
    if now - last_seen >= TOUCH_AFTER:
        with transaction(factory) as session:  # its own unit: recorded whatever the route then does
            web_sessions.touch(session, live.session_id, now=now)
    return live


def logout(factory: sessionmaker[Session], token: str, *, now: datetime) -> None:
    with transaction(factory) as session:  # its own unit: for a caller without a request's `Db`
        web_sessions.revoke(session, digest(token), now=now)


def revoke(session: Session, token: str, *, now: datetime) -> None:
    """End the session of this cookie token in the caller's unit of work (a route's `Db`)."""
    web_sessions.revoke(session, digest(token), now=now)


def login_attempt(request: Request, username: str, password: str, *, client: str) -> tuple[str, Live]:
    """The login form's attempt (`login`), in units of its own and never in the route's `Db`: a
    refused login must still have its failure counted (committed) while the refusal is answered."""
    ctx = ctx_of(request)
    return login(ctx.factory, username, password, now=ctx.now(), client=client)


# --- cookies --------------------------------------------------------------------------------------


def secure_cookies(request: Request) -> bool:
    return request.url.scheme == "https" or bool(ctx_of(request).settings.web_secure_cookies)


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=int(ABSOLUTE.total_seconds()), path="/",
                        httponly=True, samesite="lax", secure=secure_cookies(request))


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=secure_cookies(request))


# --- dependencies ---------------------------------------------------------------------------------


def _current(request: Request) -> Live | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    ctx = ctx_of(request)
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
