"""Refuse a request whose path or query string holds a control character, before any route runs.

PostgreSQL refuses NUL in text, so `?q=%00` or `/track?code=%00` once reached the database and
answered 500; every other control character is a typing accident or a probe. The answer is 422:
the API's JSON error with the parameter named, or the web UI's error page (services.kernel.inputs has
the rule).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

from app.api.errors import error_body
from services.kernel.inputs import control_character


def _problem(scope) -> dict[str, str] | None:
    char = control_character(scope.get("path", ""))
    if char:
        return {"field": "path", "message": f"地址中含有控制字符（{char}）"}
    query = scope.get("query_string", b"").decode("latin-1")
    if not query:
        return None
    for key, value in parse_qsl(query, keep_blank_values=True):
        char = control_character(key) or control_character(value)
        if char:
            return {"field": control_character(key) and "query" or key,
                    "message": f"查询参数含有控制字符（{char}）"}
    return None


class RefuseControlCharacters:
    """Pure ASGI middleware: one regex per path and query parameter, nothing for clean requests."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = _problem(scope)
        if problem is None:
            await self.app(scope, receive, send)
            return
        if scope.get("path", "").startswith("/api/"):
            response = JSONResponse(error_body("invalid", "请求地址或查询参数不合法", [problem]), status_code=422)
        else:
            from app.web.errors import error_page

            response = error_page(Request(scope), 422, "请求不合法", problem["message"] + "，请检查后重试。")
        await response(scope, receive, send)
