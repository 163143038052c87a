"""Dependencies shared by the routers: the service context, the unit of work and the caller."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from db.engine import UnitOfWork, read_only, transaction
from app.api.metrics import Metrics
from services.accounts.auth import Principal, TokenCache, authenticate, token_digest
from services.kernel.clock import Clock
from services.kernel.errors import Conflict, Unauthorized
from services.kernel.settings import Settings


@dataclass
class ServiceContext:
    settings: Settings
    factory: sessionmaker[Session]
    clock: Clock
    token_cache: TokenCache
    metrics: Metrics

    def now(self) -> datetime:
        return self.clock()

    @property
    def uow(self) -> UnitOfWork:
        """For work that needs more than one unit (an upload that undoes its file on failure)."""
        return UnitOfWork(self.factory)


async def get_context(request: Request) -> ServiceContext:
    # async: FastAPI runs a plain `def` dependency in the thread pool, a hop per request for
    # nothing here (bench/RESULTS.md).
    return request.app.state.ctx


Ctx = Annotated[ServiceContext, Depends(get_context)]


@asynccontextmanager
async def _in_unit(unit: AbstractContextManager[Session]) -> AsyncIterator[Session]:
    """Enter a unit on the event loop (a session connects only when first used, in the route's
    thread) and leave it in the thread pool (commit or roll back: I/O): one hop, where a sync
    dependency costs one to enter and one to leave."""
    session = unit.__enter__()
    try:
        yield session
    except BaseException as exc:
        await run_in_threadpool(unit.__exit__, type(exc), exc, exc.__traceback__)
        raise
    await run_in_threadpool(unit.__exit__, None, None, None)


async def unit_of_work(ctx: Ctx) -> AsyncIterator[Session]:
    """The request's one unit of work (`db.engine.transaction`): committed when the route returns,
    rolled back when it raises. Scope "function": the commit runs before the answer is sent, so a
    failed commit is answered as an error, never as a success that did not happen."""
    async with _in_unit(transaction(ctx.factory)) as session:
        yield session


async def reading(ctx: Ctx) -> AsyncIterator[Session]:
    """A read-only session for the route (a snapshot; SQLite readers never wait for writers)."""
    async with _in_unit(read_only(ctx.factory)) as session:
        yield session


Db = Annotated[Session, Depends(unit_of_work, scope="function")]
ReadDb = Annotated[Session, Depends(reading, scope="function")]

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


_IF_MATCH = re.compile(r'(?:W/)?"?([0-9]{1,18})"?')


def parse_if_match(value: str | None) -> int | None:
    """`If-Match: "7"` (or W/"7", or 7) → 7; `*` matches any version. ASCII digits only: `"²"`
    or a number of a thousand digits is not a version."""
    if value is None or value.strip() == "*":
        return None
    found = _IF_MATCH.fullmatch(value.strip())
    if found is None:
        raise Conflict("If-Match 应为隐患的版本号 ETag，例如 \"3\"", code="bad_if_match")
    return int(found.group(1))


def _ascii_id(value: Any) -> Any:
    """A path id is ASCII digits (no `²`, no `+5`, no 5,000 digits); its range is the lookup's
    business (an id no row has answers 404)."""
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{1,19}", value):
        raise PydanticCustomError("zh_id", "编号应为不超过19位的正整数")
    return value


IdPath = Annotated[int, Path(description="编号（正整数）"), BeforeValidator(_ascii_id)]
IfMatch = Annotated[str | None, Header(alias="If-Match", description='The hazard\'s ETag, e.g. `"3"`.')]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(alias="Idempotency-Key", pattern=r"^[\x21-\x7e]{1,200}$",
           description="1–200 visible ASCII characters. Retries with the same key and body return the stored "
                       "answer; one effect. Keys are kept for HAZARD_IDEMPOTENCY_RETENTION_DAYS (7) days."),
]
