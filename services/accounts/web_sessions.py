"""The web UI's login sessions in the database (`web_sessions`): who may log in, opening a session,
finding one by its token's SHA-256, keeping it alive and ending it. The policy (idle and absolute
expiry, cookies, the login throttle) is app/web/session.py's; the caller holds the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import User, WebSession
from services.accounts.auth import Principal, principal_of


@dataclass(frozen=True)
class Credentials:
    principal: Principal
    password_hash: str | None
    may_log_in: bool  # active, and not the system account


@dataclass(frozen=True)
class SessionRecord:
    principal: Principal
    session_id: int
    csrf_token: str
    user_active: bool
    revoked_at: datetime | None
    expires_at: datetime
    last_seen_at: datetime


def credentials(session: Session, username: str) -> Credentials | None:
    """The user of this username (surrounding blanks ignored), or None when there is none."""
    user = session.execute(select(User).where(User.username == username.strip())).scalar_one_or_none()
    if user is None:
        return None
    return Credentials(principal_of(user), user.password_hash, user.active and user.role != "system")


def open_session(session: Session, user_id: int, *, token_hash: str, csrf_token: str, now: datetime,
                 expires_at: datetime) -> int:
    """A new session for the user, seen `now`; returns its id."""
    row = WebSession(token_hash=token_hash, user_id=user_id, csrf_token=csrf_token, created_at=now,
                     last_seen_at=now, expires_at=expires_at)
    session.add(row)
    session.flush()
    return row.id


def find(session: Session, token_hash: str) -> SessionRecord | None:
    """The session of this token hash with its user, live or not (the caller judges)."""
    found = session.execute(
        select(WebSession, User).join(User, User.id == WebSession.user_id).where(WebSession.token_hash == token_hash)
    ).first()
    if found is None:
        return None
    row, user = found
    return SessionRecord(principal_of(user), row.id, row.csrf_token, user.active, row.revoked_at, row.expires_at,
                         row.last_seen_at)


def touch(session: Session, session_id: int, *, now: datetime) -> None:
    """Seen `now` (a revoked session stays as it was)."""
    session.execute(update(WebSession).where(WebSession.id == session_id, WebSession.revoked_at.is_(None))
                    .values(last_seen_at=now))


def revoke(session: Session, token_hash: str, *, now: datetime) -> None:
    """End the session of this token hash (logout); nothing when it is gone or already ended."""
    session.execute(update(WebSession).where(WebSession.token_hash == token_hash, WebSession.revoked_at.is_(None))
                    .values(revoked_at=now))


def end_user_sessions(session: Session, user_id: int, *, now: datetime) -> int:
    """Revoke every live session of a user (disabled, password changed); returns how many."""
    result = session.execute(update(WebSession).where(WebSession.user_id == user_id,
                                                      WebSession.revoked_at.is_(None)).values(revoked_at=now))
    return result.rowcount
