"""Web login sessions: cookies, CSRF, logout, expiry, disabled users, the throttle and next=."""

from __future__ import annotations


import pytest
from sqlalchemy import func, select

from db.engine import read_only, transaction
from db.models import Hazard, WebSession
from services.accounts import admin
from tests.app.web.conftest import PASSWORD, csrf_of, login


def _session_count(factory, live_only: bool = True) -> int:
    with read_only(factory) as s:
        q = select(func.count()).select_from(WebSession)
        if live_only:
            q = q.where(WebSession.revoked_at.is_(None))
        return s.execute(q).scalar_one()


def test_login_sets_a_safe_cookie_and_shows_the_todo_page(client, factory):
    response = login(client, "supervisor")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("hz_session="))
    flags = [p.strip().lower() for p in cookie.split(";")]
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "path=/" in flags
    assert "secure" not in flags  # plain http and web_secure_cookies off
    token = cookie.split(";")[0].split("=", 1)[1]
    with read_only(factory) as s:
        hashes = s.execute(select(WebSession.token_hash)).scalars().all()
    assert len(hashes) == 1 and token not in hashes[0]  # only the digest is stored
    page = client.get("/")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert "退出登录" in page.text and "待办" in page.text


def test_secure_flag_over_https_and_with_the_setting(app):
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="https://testserver", follow_redirects=False) as https:
        response = login(https, "supervisor")
        cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("hz_session="))
        assert "secure" in [p.strip().lower() for p in cookie.split(";")]
    app.state.ctx.settings.web_secure_cookies = True  # behind a TLS-terminating proxy: http inside
    with TestClient(app, follow_redirects=False) as http:
        page = http.get("/login")
        cookie = next(h for h in page.headers.get_list("set-cookie") if h.startswith("hz_login_csrf="))
        assert "secure" in [p.strip().lower() for p in cookie.split(";")]


@pytest.mark.parametrize("username,password", [("supervisor", "wrong-password-9"), ("nobody-here", PASSWORD)])
def test_bad_login_is_generic(client, factory, username, password):
    response = login(client, username, password)
    assert response.status_code == 400
    assert "用户名或密码错误" in response.text
    assert "hz_session=" not in response.headers.get("set-cookie", "")
    assert _session_count(factory) == 0
    assert client.get("/", follow_redirects=False).status_code == 303


def test_disabled_user_cannot_log_in_and_loses_sessions(browser, factory):
    c = browser("supervisor")
    assert c.get("/").status_code == 200
    with transaction(factory) as s:
        admin.set_active(s, "supervisor", False)
    gone = c.get("/")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
    assert _session_count(factory) == 0  # revoked, so re-enabling does not revive it
    with transaction(factory) as s:
        admin.set_active(s, "supervisor", True)
    assert c.get("/").status_code == 303
    other = browser()
    assert "用户名或密码错误" not in login(other, "supervisor").text


def test_login_form_needs_its_csrf_token(client, factory):
    client.get("/login")
    response = client.post("/login", data={"username": "supervisor", "password": PASSWORD, "csrf_token": "x.y"})
    assert response.status_code == 403
    assert "表单校验失败" in response.text
    # a token from another browser (no matching cookie) fails too
    token = csrf_of(client.get("/login").text)
    client.cookies.clear()
    response = client.post("/login", data={"username": "supervisor", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 403
    assert _session_count(factory) == 0


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_post_without_the_session_csrf_token_changes_nothing(browser, factory, world, clock, token):
    from tests.helpers import drive

    hid = drive(factory, world, clock(), "reported")
    c = browser("inspector2")
    data = {"reason": "经核查不构成隐患"}
    if token is not None:
        data["csrf_token"] = token
    response = c.post(f"/hazards/{hid}/actions/dismiss", data=data)
    assert response.status_code == 403
    assert "表单校验失败" in response.text
    with read_only(factory) as s:
        assert s.get(Hazard, hid).state == "reported"
    logout = c.post("/logout", data={"csrf_token": "nope"})
    assert logout.status_code == 403
    assert c.get("/").status_code == 200  # still logged in


def test_logout_revokes_the_session(browser, factory):
    c = browser("supervisor")
    token = c.cookies.get("hz_session")
    page = c.get("/")
    response = c.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert _session_count(factory) == 0
    # replaying the old cookie is refused server-side, not only forgotten by the browser
    c.cookies.set("hz_session", token)
    assert c.get("/").status_code == 303


def test_idle_and_absolute_expiry(browser, clock):
    c = browser("supervisor")
    clock.advance(hours=7)
    assert c.get("/").status_code == 200  # activity keeps it alive
    clock.advance(hours=4, minutes=59)
    assert c.get("/").status_code == 200
    idle = browser("supervisor")
    clock.advance(hours=8, minutes=1)
    assert idle.get("/").status_code == 303  # idle 8 h
    d = browser("supervisor")
    for _ in range(5):
        clock.advance(hours=2, minutes=20)
        assert d.get("/").status_code == 200
    clock.advance(minutes=20)
    assert d.get("/").status_code == 303  # 12 h after login, however active


def test_throttle_locks_after_five_failures_without_leaking(browser, clock, factory):
    for username in ("supervisor", "no-such-user"):
        c = browser()
        for _ in range(4):
            assert login(c, username, "wrong-password-9").status_code == 400
        fifth = login(c, username, "wrong-password-9")  # the page says the wait when it is imposed
        assert fifth.status_code == 429 and "15 分钟后再试" in fifth.text
        assert fifth.headers["retry-after"] == "900"
        clock.advance(minutes=5)
        locked = login(c, username, PASSWORD if username == "supervisor" else "x")
        assert locked.status_code == 429
        assert "10 分钟后再试" in locked.text  # how long is left; the same for a real and a made-up name
        clock.advance(minutes=-5)
    c = browser()
    assert login(c, "inspector").status_code == 303  # other users are not affected
    clock.advance(minutes=15, seconds=1)
    assert login(browser(), "supervisor").status_code == 303


def test_success_resets_the_failure_count(browser):
    c = browser()
    for _ in range(4):
        login(c, "supervisor", "wrong-password-9")
    assert login(c, "supervisor").status_code == 303
    d = browser()
    for _ in range(4):
        assert login(d, "supervisor", "wrong-password-9").status_code == 400
    assert login(d, "supervisor").status_code == 303


def test_not_logged_in_redirects_with_next(client):
    response = client.get("/hazards/1?tab=x", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/hazards/1%3Ftab%3Dx"


@pytest.mark.parametrize("target,expected", [
    ("/hazards/7", "/hazards/7"),
    ("https://evil.example/", "/"),
    ("//evil.example/x", "/"),
    ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"),
    ("/\r\nSet-Cookie: x=1", "/"),
])
def test_next_only_same_site_paths(client, target, expected):
    response = login(client, "supervisor", next=target)
    assert response.status_code == 303
    assert response.headers["location"] == expected


def test_login_page_escapes_the_username(client):
    page = client.get("/login")
    response = client.post("/login", data={"username": "<script>alert(1)</script>", "password": "x",
                                          "csrf_token": csrf_of(page.text)})
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text
