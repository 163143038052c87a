"""Dependencies shared by the routers: the service context and the authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from db.engine import read_only
from services.api.metrics import Metrics
from services.auth import Principal, TokenCache, authenticate, token_digest
from services.clock import Clock
from services.errors import Conflict, Unauthorized
from services.settings import Settings


@dataclass
class ServiceContext:
    settings: Settings
    factory: sessionmaker[Session]
    clock: Clock
    token_cache: TokenCache
    metrics: Metrics

    def now(self) -> datetime:
        return self.clock()


async def get_context(request: Request) -> ServiceContext:
    # async: FastAPI runs a plain `def` dependency in the thread pool, a hop per request for
    # nothing here (bench/RESULTS.md).
    return request.app.state.ctx


Ctx = Annotated[ServiceContext, Depends(get_context)]

_bearer = HTTPBearer(auto_error=False, description="`hazard users add` prints a token for a user.")


async def current_principal(
    ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """A token the cache knows is answered on the event loop (no thread hop, no session); any
    other goes to the database in the thread pool, where `authenticate` checks and caches it."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("请先登录：请求须带 Authorization: Bearer <令牌>")
    hit = ctx.token_cache.get(token_digest(credentials.credentials))
    if hit is not None:
        return hit
    return await run_in_threadpool(_authenticate, ctx, credentials.credentials)


def _authenticate(ctx: ServiceContext, token: str) -> Principal:
    with read_only(ctx.factory) as session:
        return authenticate(session, token, now=ctx.now(), cache=ctx.token_cache)


Caller = Annotated[Principal, Depends(current_principal)]


def parse_if_match(value: str | None) -> int | None:
    """`If-Match: "7"` (or W/"7", or 7) → 7; `*` matches any version."""
    if value is None or value.strip() == "*":
        return None
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit():
        raise Conflict("If-Match 应为隐患的版本号 ETag，例如 \"3\"", code="bad_if_match")
    return int(text)


IfMatch = Annotated[str | None, Header(alias="If-Match", description='The hazard\'s ETag, e.g. `"3"`.')]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=200,
           description="Retries with the same key and body return the stored answer; one effect."),
]
