"""CSRF: every POST form of the web UI carries the session's `csrf_token`, compared in constant time
(`CsrfChecked`). The login form has no session yet, so it uses a signed double-submit token: a
cookie and a hidden field that must match and carry an HMAC of the deployment's secret (a cookie
planted by a sibling domain fails).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

import structlog
from fastapi import Depends, Request
from starlette.responses import Response

from app.web.session import Live, WebUser, ctx_of, secure_cookies

log = structlog.get_logger("hazard.web.session")

LOGIN_CSRF_COOKIE = "hz_login_csrf"


class CsrfFailed(Exception):
    """A POST without the right form token: answered with a 403 page in Chinese."""


def _sign(request: Request, purpose: str, value: str) -> str:
    secret = ctx_of(request).settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def login_csrf(request: Request) -> str:
    """The login form's token: the browser's current one when it is valid, else a new one."""
    current = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if _login_token_valid(request, current):
        return current
    nonce = secrets.token_urlsafe(24)
    return f"{nonce}.{_sign(request, 'login-csrf', nonce)}"


def _login_token_valid(request: Request, token: str) -> bool:
    nonce, _, sig = token.partition(".")
    return bool(nonce and sig) and hmac.compare_digest(sig, _sign(request, "login-csrf", nonce))


def set_login_csrf_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, path="/", httponly=True, samesite="lax",
                        secure=secure_cookies(request))


def check_login_csrf(request: Request, submitted: str) -> None:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not (cookie and submitted and hmac.compare_digest(cookie.encode(), submitted.encode())
            and _login_token_valid(request, cookie)):
        log.info("web_csrf_refused", path=request.url.path, stage="login")
        raise CsrfFailed()


async def csrf_checked(request: Request, user: WebUser) -> None:
    """The form's `csrf_token` must equal the session's (constant-time compare)."""
    live: Live = request.state.web_live
    form = await request.form()  # Starlette caches it: the route reads the same form again
    submitted = form.get("csrf_token")
    if not isinstance(submitted, str) or not hmac.compare_digest(submitted.encode(), live.csrf_token.encode()):
        log.info("web_csrf_refused", path=request.url.path, user=user.username)
        raise CsrfFailed()


# Use as a parameter (`_: CsrfChecked`) or in `dependencies=[Depends(csrf_checked)]`.
CsrfChecked = Annotated[None, Depends(csrf_checked)]
