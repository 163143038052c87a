"""Login and logout pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from services.web import session as web_session
from services.web.render import render
from services.web.session import CsrfChecked, LoginFailed, OptionalLive, safe_next

router = APIRouter()

FormText = Annotated[str, Form(max_length=2000)]


def _login_page(request: Request, *, next_path: str, username: str = "", error: str | None = None,
                status: int = 200) -> Response:
    token = web_session.login_csrf(request)
    response = render(request, "web/login.html", status=status, login_csrf=token, next=next_path,
                      username=username, error=error)
    web_session.set_login_csrf_cookie(request, response, token)
    return response


@router.get("/login")
def login_form(request: Request, live: OptionalLive, next: str = "/") -> Response:
    if live is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, next_path=safe_next(next))


@router.post("/login")
def login_submit(request: Request, live: OptionalLive, username: FormText = "", password: FormText = "",
                 csrf_token: FormText = "", next: FormText = "/") -> Response:
    web_session.check_login_csrf(request, csrf_token)
    target = safe_next(next)
    username = username.strip()
    if not username or not password:
        return _login_page(request, next_path=target, username=username, error="请输入用户名和密码", status=400)
    ctx = request.app.state.ctx
    try:
        token, new = web_session.login(ctx.factory, username, password, now=ctx.now())
    except LoginFailed as exc:
        status = 429 if exc.message == web_session.LOCKED else 400
        return _login_page(request, next_path=target, username=username, error=exc.message, status=status)
    old = request.cookies.get(web_session.SESSION_COOKIE)
    if old:  # a fresh token at every login: a planted cookie never becomes a logged-in session
        web_session.logout(ctx.factory, old, now=ctx.now())
    response = RedirectResponse(target, status_code=303)
    web_session.set_session_cookie(request, response, token)
    response.delete_cookie(web_session.LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(request: Request, _: CsrfChecked) -> Response:
    ctx = request.app.state.ctx
    web_session.logout(ctx.factory, request.cookies.get(web_session.SESSION_COOKIE, ""), now=ctx.now())
    response = RedirectResponse("/login", status_code=303)
    web_session.clear_session_cookie(request, response)
    return response
