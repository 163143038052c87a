"""What the HTTP side keeps between requests: web UI sessions and the login throttle, rate-limit
buckets, and the stored answers of idempotent API requests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime
from db.models.columns import BigId


class WebSession(Base):
    """A login session of the web UI (app/web/session.py). The browser holds a random token;
    only its SHA-256 is kept, so a copy of this table logs nobody in. `csrf_token` is the session's
    form token; `last_seen_at` drives the idle expiry, `expires_at` the absolute one."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginThrottle(Base):
    """Failed web logins per username and client, and per client (app/web/login_throttle.py); counted
    whether the username exists or not, so a lock says nothing about who exists."""

    __tablename__ = "login_throttles"

    username_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RateBucket(Base):
    """A fixed-window request counter (services/kernel/ratelimit.py), e.g. tracking-code lookups of one
    client per hour. Bumped by one UPDATE that also restarts an expired window, so concurrent
    requests of every API process are each counted once."""

    __tablename__ = "rate_buckets"

    bucket: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    hits: Mapped[int] = mapped_column(Integer, default=0)


class IdempotencyKey(Base):
    """The stored answer to a request made with an `Idempotency-Key`, per user."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)  # the retention purge
