"""Every error answers `{"error": {"code", "message" (zh-CN), "details"}}`."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.kernel.errors import DomainError
from services.kernel.validation import zh_errors

log = structlog.get_logger("hazard.api")

_HTTP_MESSAGES = {
    400: "请求格式不正确",
    401: "请先登录",
    403: "无权执行此操作",
    404: "请求的资源不存在",
    405: "不支持该请求方法",
    413: "请求体过大",
    415: "不支持的内容类型",
}


def error_body(code: str, message: str, details=None) -> dict:
    return {"error": {"code": code, "message": message, "details": details}}


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.code == "stale_version" and isinstance(exc.details, dict) and "current" in exc.details:
            headers = {"ETag": f'"{exc.details["current"]}"'}  # the client retries with this If-Match
        if exc.status == 429 and isinstance(exc.details, dict) and "retry_after" in exc.details:
            headers = {"Retry-After": str(exc.details["retry_after"])}
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        from app.api.action_order import refusal_before_body

        first = await refusal_before_body(request)  # scope, role, state come before the body
        if first is not None:
            return await _domain(request, first)
        details = zh_errors(exc)
        return JSONResponse(error_body("invalid", "提交的内容有误，请按提示修改。", details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = _HTTP_MESSAGES.get(exc.status_code, "请求无法处理")
        return JSONResponse(error_body(f"http_{exc.status_code}", message), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request_failed", path=request.url.path, method=request.method)
        # Answered outside the app's middleware (Starlette's ServerErrorMiddleware), so the header
        # SecurityHeadersMiddleware gives every other answer is set here.
        return JSONResponse(error_body("internal", "服务器内部错误，请稍后重试或联系管理员"), status_code=500,
                            headers={"X-Content-Type-Options": "nosniff"})
