"""Who is calling, and what they may see.

Tokens are random and looked up by SHA-256; passwords are hashed with argon2. Scope: an enterprise
user sees its own enterprise's hazards; inspectors and supervisors their region subtree (and their
industry, when bound to one); committee offices, auditors and admins their region subtree. Out of
scope answers 404, so a hazard's existence does not leak.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, and_, false, select, true
from sqlalchemy.orm import Session

from db.models import ApiToken, Hazard, User
from services.kernel import regions
from services.kernel.errors import Unauthorized
from services.lifecycle.roles import Role

_hasher = PasswordHasher()
TOKEN_PREFIX = "hz_"


@dataclass(frozen=True)
class Principal:
    id: int | None
    username: str
    display_name: str
    role: str
    region_code: str
    industry: str | None = None
    enterprise_id: int | None = None
    organisation_id: int | None = None  # the government body a user works for (issue 14: its tasks)

    @property
    def region_prefix(self) -> str:
        return regions.scope_prefix(self.region_code)


SYSTEM = Principal(None, "system", "系统", Role.SYSTEM, "000000")


def public_principal(region_code: str) -> Principal:
    return Principal(None, "public", "群众举报", Role.PUBLIC, region_code)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    if not stored:
        return False
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, *, label: str = "", now: datetime | None = None) -> str:
    """Create a token for `user` and return it; only its digest is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user_id=user.id,
            token_hash=token_digest(token),
            label=label,
            created_at=now or datetime.now(timezone.utc),
        )
    )
    session.flush()
    return token


def principal_of(user: User) -> Principal:
    return Principal(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        region_code=user.region_code,
        industry=user.industry,
        enterprise_id=user.enterprise_id,
        organisation_id=user.organisation_id,
    )


class TokenCache:
    """A short-lived, per-process cache of token → principal.

    Every API request authenticates; a few seconds of caching removes a query from each request
    while a revoked token still stops working within `ttl` seconds.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._items: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> Principal | None:
        if self.ttl <= 0:
            return None
        item = self._items.get(digest)
        if item and item[0] > time.monotonic():
            return item[1]
        return None

    def put(self, digest: str, principal: Principal) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[digest] = (time.monotonic() + self.ttl, principal)


def authenticate(session: Session, token: str, *, now: datetime, cache: TokenCache | None = None) -> Principal:
    digest = token_digest(token)
    if cache is not None and (hit := cache.get(digest)) is not None:
        return hit
    row = session.execute(
        select(User, ApiToken)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == digest)
    ).first()
    if row is None:
        raise Unauthorized("登录凭证无效，请重新登录")
    user, tok = row
    if tok.revoked_at is not None or (tok.expires_at is not None and tok.expires_at <= now):
        raise Unauthorized("登录凭证已失效，请重新登录")
    if not user.active:
        raise Unauthorized("账号已停用")
    principal = principal_of(user)
    if cache is not None:
        cache.put(digest, principal)
    return principal


def in_scope(principal: Principal, hazard: Hazard) -> bool:
    role = principal.role
    if role == Role.SYSTEM:
        return True
    if role == Role.ENTERPRISE:
        return principal.enterprise_id is not None and hazard.enterprise_id == principal.enterprise_id
    if role == Role.PUBLIC:
        return False
    if not hazard.region_code.startswith(principal.region_prefix):
        return False
    if role in (Role.INSPECTOR, Role.SUPERVISOR) and principal.industry:
        return hazard.industry == principal.industry
    return True


def scope_clause(principal: Principal) -> ColumnElement[bool]:
    """The same rule as `in_scope`, as SQL for lists."""
    role = principal.role
    if role == Role.SYSTEM:
        return true()
    if role == Role.ENTERPRISE:
        if principal.enterprise_id is None:
            return false()
        return Hazard.enterprise_id == principal.enterprise_id
    if role == Role.PUBLIC:
        return false()
    clause = Hazard.region_code.startswith(principal.region_prefix, autoescape=True)
    if role in (Role.INSPECTOR, Role.SUPERVISOR) and principal.industry:
        clause = and_(clause, Hazard.industry == principal.industry)
    return clause
