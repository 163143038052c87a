"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from db.engine import make_engine, make_session_factory
from app.api import apidocs, errors, examples
from app.api.calendar_sync import CalendarSync
from app.api.input_guard import RefuseControlCharacters
from app.api.deps import ServiceContext
from app.api.metrics import Metrics, MetricsMiddleware
from app.api.security_headers import SecurityHeadersMiddleware
from app.api.routers import documents, hazards, inbox, outbox, public, reports, system
from app.api.routers import blacklist, enterprises
from app.api.routers import accountability, bulletins
from app.api.routers import inspections
from app.api.routers import tasks
from services.kernel import logs
from app import web
from services.accounts.auth import TokenCache
from services.kernel.clock import Clock, utcnow
from services.kernel.settings import Settings, get_settings

DESCRIPTION = """
事故隐患闭环管理服务 API：隐患从发现、登记、挂牌督办、整改、验收到销号的全过程。

- 认证：`Authorization: Bearer <令牌>`，令牌由 `hazard users add` 签发。
- 超出管辖范围的隐患一律返回 404；角色或四眼原则不允许返回 403；状态不允许或版本过期返回 409；
  请求体不合法返回 422，`details` 给出字段级中文提示。
- 错误格式：`{"error": {"code": "...", "message": "...", "details": ...}}`。
"""

# Every route can fail unexpectedly; the answer is JSON even on the plain-text /metrics route.
INTERNAL_ERROR = {"description": "服务器内部错误",
                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}


def create_app(settings: Settings | None = None, *, clock: Clock = utcnow) -> FastAPI:
    settings = settings or get_settings()
    logs.configure(settings.log_level)
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size,
                         max_overflow=settings.db_max_overflow)
    app = FastAPI(title="事故隐患闭环管理服务 Hazard closure service", version="1.0.0", description=DESCRIPTION,
                  responses={500: INTERNAL_ERROR}, docs_url=None, redoc_url=None)
    metrics = Metrics()
    app.state.ctx = ServiceContext(
        settings=settings, factory=make_session_factory(engine), clock=clock,
        token_cache=TokenCache(settings.token_cache_seconds), metrics=metrics,
    )
    app.state.engine = engine
    errors.install(app)
    app.include_router(hazards.router)
    app.include_router(public.router)
    app.include_router(system.router)
    app.include_router(inbox.router)
    app.include_router(outbox.router)
    app.include_router(documents.router)
    app.include_router(reports.router)
    app.include_router(enterprises.router)
    app.include_router(blacklist.router)
    app.include_router(bulletins.router)
    app.include_router(accountability.router)
    app.include_router(inspections.router)
    app.include_router(tasks.router)
    app.include_router(web.router)
    apidocs.install(app)  # /docs, /redoc and /static/apidocs: before web's /static mount
    examples.install(app, clock)  # the OpenAPI request examples, dated from the app's today
    web.mount_static(app)
    app.add_middleware(CalendarSync, factory=app.state.ctx.factory)  # loaded years: services/calendar/years.py
    app.add_middleware(RefuseControlCharacters)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(SecurityHeadersMiddleware)
    return app
