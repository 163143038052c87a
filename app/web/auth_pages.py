"""Login and logout pages."""

from __future__ import annotations

from typing import Annotated

import math

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from app.api.client import client_ip
from app.api.deps import Ctx, Db
from services.kernel.inputs import control_character
from app.web import csrf, session as web_session
from app.web.render import render
from app.web.csrf import CsrfChecked
from app.web.session import LoginFailed, OptionalLive, safe_next

router = APIRouter()

FormText = Annotated[str, Form(max_length=2000)]


def _login_page(request: Request, *, next_path: str, username: str = "", error: str | None = None,
                status: int = 200) -> Response:
    token = csrf.login_csrf(request)
    response = render(request, "web/login.html", status=status, login_csrf=token, next=next_path,
                      username=username, error=error)
    csrf.set_login_csrf_cookie(request, response, token)
    return response


@router.get("/login")
def login_form(request: Request, live: OptionalLive, next: str = "/") -> Response:
    if live is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, next_path=safe_next(next))


@router.post("/login")
def login_submit(request: Request, live: OptionalLive, ctx: Ctx, db: Db, username: FormText = "",
                 password: FormText = "", csrf_token: FormText = "", next: FormText = "/") -> Response:
    csrf.check_login_csrf(request, csrf_token)
    target = safe_next(next)
    username = username.strip()
    if not username or not password:
        return _login_page(request, next_path=target, username=username, error="请输入用户名和密码", status=400)
    if control_character(username) or control_character(password):
        return _login_page(request, next_path=target, username="", status=422,
                           error="用户名或密码含有不可见的控制字符，请重新输入")
    try:  # in units of its own (app/web/session.py): a refused login still counts its failure
        token, new = web_session.login_attempt(request, username, password, client=client_ip(request))
    except LoginFailed as exc:
        response = _login_page(request, next_path=target, username=username, error=exc.message,
                               status=429 if exc.retry_after is not None else 400)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(math.ceil(exc.retry_after.total_seconds()))
        return response
    old = request.cookies.get(web_session.SESSION_COOKIE)
    if old:  # a fresh token at every login: a planted cookie never becomes a logged-in session
        web_session.revoke(db, old, now=ctx.now())
    response = RedirectResponse(target, status_code=303)
    web_session.set_session_cookie(request, response, token)
    response.delete_cookie(csrf.LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(request: Request, ctx: Ctx, _: CsrfChecked, db: Db) -> Response:
    web_session.revoke(db, request.cookies.get(web_session.SESSION_COOKIE, ""), now=ctx.now())
    response = RedirectResponse("/login", status_code=303)
    web_session.clear_session_cookie(request, response)
    return response
