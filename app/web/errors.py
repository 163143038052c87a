"""How the web UI answers what a page cannot do: a Chinese HTML page, never the API's JSON.

Only paths of the web UI are answered here; everything under /api keeps the API's JSON errors.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response

from app.web.render import render
from app.web.csrf import CsrfFailed
from app.web.session import LoginRequired, login_url


class ErrorPage(Exception):
    """Raised by a page to answer with the error page: `status`, a title and a sentence."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def not_found() -> ErrorPage:
    return ErrorPage(404, "页面不存在", "隐患不存在或不在您的管辖范围内。")


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    return render(request, "web/error.html", status=status, title=title, message=message)


def install(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(login_url(exc.next_path), status_code=303)

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> Response:
        return error_page(request, 403, "请求已过期",
                          "表单校验失败（可能是页面停留过久或在其他窗口退出了登录）。请返回上一页刷新后重新提交。")

    @app.exception_handler(ErrorPage)
    async def _page(request: Request, exc: ErrorPage) -> Response:
        return error_page(request, exc.status, exc.title, exc.message)
