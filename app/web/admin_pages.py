"""The admin's pages: `/admin/users` and `/admin/enterprises` (list with search and pages, add,
disable/enable, a user's password reset). Thin: every rule and every permission is
`services.accounts.manage` (admin only, own region subtree; the CLI's record rules), so a refusal reads
the same here as anywhere. Other roles get the 403 page; every change is a POST with the session's
CSRF token. A password (typed or generated) is shown once, on the answer to the POST itself: never
in a redirect, a cookie or a log line.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from app.api.deps import Db, ReadDb
from services.accounts import manage as accounts
from services.accounts.auth import Principal
from services.kernel.errors import DomainError, Forbidden, Invalid, NotFound
from services.kernel.inputs import ascii_id, form_text
from services.lifecycle.roles import ROLE_LABELS, USER_ROLES
from services.kernel.vocab import INDUSTRIES
from app.web.errors import ErrorPage
from app.web.forms import PostedForm
from app.web.render import flash, render
from app.web.csrf import CsrfChecked
from app.web.session import WebUser

router = APIRouter()

USER_FIELDS = ("username", "display_name", "role", "region_code", "industry", "enterprise_uscc", "email", "password")
ENTERPRISE_FIELDS = ("uscc", "name", "region_code", "industry", "supervising_department", "responsible_official")
# services.accounts.admin names some fields after the CLI's options
_FIELD_ALIASES = {"region": "region_code", "enterprise": "enterprise_uscc"}
_ENTERPRISES_LIST = re.compile(r"/admin/enterprises(\?[A-Za-z0-9%=&._~+-]{0,400})?")


def _ctx(request: Request):
    return request.app.state.ctx


def _admin(user: Principal) -> Principal:
    try:
        accounts.require_admin(user)
    except Forbidden:
        raise ErrorPage(403, "无权访问", "用户和企业管理仅向管理员开放。") from None
    return user


def _id(value: str) -> int:
    found = ascii_id(value)
    if found is None:
        raise ErrorPage(404, "页面不存在", "用户或企业不存在或不在您的管辖范围内。")
    return found


def _page_number(request: Request) -> int:
    return ascii_id(request.query_params.get("page", "1")) or 1


def _field_errors(exc: Invalid, fields: tuple[str, ...]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for d in exc.details or []:
        name = str(d.get("field", "")).split(".")[0]
        name = _FIELD_ALIASES.get(name, name)
        errors.setdefault(name if name in fields else "_", str(d.get("message", exc.message)))
    return errors


def _form(form: Any, fields: tuple[str, ...]) -> dict[str, str]:
    return {k: form_text(form.get(k)) for k in fields}


@router.get("/admin")
def admin_home(user: WebUser) -> Response:
    _admin(user)
    return RedirectResponse("/admin/users", status_code=303)


# --- users ----------------------------------------------------------------------------------------


@router.get("/admin/users")
def users_page(request: Request, user: WebUser, db: ReadDb) -> Response:
    _admin(user)
    q = accounts.clean_query(request.query_params.get("q"))
    role = request.query_params.get("role", "")
    role = role if role in USER_ROLES else ""
    result = accounts.list_users(db, user, q=q, role=role, page=_page_number(request))

    def link(*, page: int) -> str:
        return "/admin/users?" + urlencode({k: v for k, v in (("q", q), ("role", role), ("page", page)) if v})

    return render(request, "web/admin_users.html", result=result, q=q, role=role, link=link,
                  roles=[(r.value, ROLE_LABELS[r]) for r in USER_ROLES])


def _user_choices(session: Session, user: Principal) -> dict[str, Any]:
    region_choices = accounts.region_choices(session, user)
    return {"region_choices": region_choices, "role_choices": [(r.value, ROLE_LABELS[r]) for r in accounts.WEB_ROLES],
            "industry_choices": [(i, i) for i in INDUSTRIES]}


def _new_user_page(request: Request, session: Session, user: Principal, values: dict[str, str],
                   errors: dict[str, str], status: int = 200) -> Response:
    return render(request, "web/admin_user_new.html", status=status, values=values, errors=errors,
                  **_user_choices(session, user))


@router.get("/admin/users/new")
def new_user_form(request: Request, user: WebUser, db: ReadDb) -> Response:
    _admin(user)
    return _new_user_page(request, db, user, {}, {})


@router.post("/admin/users/new")
def new_user_submit(request: Request, user: WebUser, _: CsrfChecked, form: PostedForm, db: Db) -> Response:
    _admin(user)
    values = _form(form, USER_FIELDS)
    ctx = _ctx(request)
    try:
        with db.begin_nested():  # a refusal rolls its writes back before the form shows it
            created, password = accounts.create_user(db, user, values, now=ctx.now())
            user_id, username = created.id, created.username
    except Invalid as exc:
        values["password"] = ""  # never sent back into the page
        return _new_user_page(request, db, user, values, _field_errors(exc, USER_FIELDS), status=422)
    return render(request, "web/admin_password.html", username=username, user_id=user_id, password=password,
                  title="已添加用户", generated=not values["password"])


@router.get("/admin/users/{user_id}")
def user_page(request: Request, user: WebUser, user_id: str, db: ReadDb) -> Response:
    _admin(user)
    try:
        target = accounts.get_user(db, user, _id(user_id))
    except NotFound as exc:
        raise ErrorPage(404, "页面不存在", exc.message) from None
    return render(request, "web/admin_user.html", target=target, errors={}, is_self=target["id"] == user.id)


@router.post("/admin/users/{user_id}/active")
def user_active(request: Request, user: WebUser, user_id: str, _: CsrfChecked, form: PostedForm,
                db: Db) -> Response:
    _admin(user)
    target_id = _id(user_id)
    active = form_text(form.get("active")) == "1"
    ctx = _ctx(request)
    try:  # a refusal is raised on as an error page: `Db` rolls the unit back
        username = accounts.set_user_active(db, user, target_id, active, now=ctx.now()).username
    except NotFound as exc:
        raise ErrorPage(404, "页面不存在", exc.message) from None
    except DomainError as exc:
        raise ErrorPage(exc.status, "无法完成", exc.message) from None
    response = RedirectResponse(f"/admin/users/{target_id}", status_code=303)
    flash(request, response, f"已启用用户 {username}" if active else f"已停用用户 {username}（其令牌已吊销，已登录的会话已退出）")
    return response


@router.post("/admin/users/{user_id}/password")
def user_password(request: Request, user: WebUser, user_id: str, _: CsrfChecked, form: PostedForm,
                  db: Db) -> Response:
    _admin(user)
    target_id = _id(user_id)
    typed = form_text(form.get("password")) or None
    ctx = _ctx(request)
    try:
        with db.begin_nested():  # a refusal rolls its writes back before the page shows it
            target, password = accounts.reset_password(db, user, target_id, typed, now=ctx.now())
            username = target.username
    except NotFound as exc:
        raise ErrorPage(404, "页面不存在", exc.message) from None
    except Invalid as exc:
        target = accounts.get_user(db, user, target_id)
        return render(request, "web/admin_user.html", status=422, target=target, is_self=target["id"] == user.id,
                      errors=_field_errors(exc, ("password",)))
    except DomainError as exc:
        raise ErrorPage(exc.status, "无法完成", exc.message) from None
    return render(request, "web/admin_password.html", username=username, user_id=target_id, password=password,
                  title="已重置密码", generated=typed is None)


# --- enterprises ----------------------------------------------------------------------------------


@router.get("/admin/enterprises")
def enterprises_page(request: Request, user: WebUser, db: ReadDb) -> Response:
    _admin(user)
    q = accounts.clean_query(request.query_params.get("q"))
    active = request.query_params.get("active", "")
    active = active if active in ("yes", "no") else ""
    unassigned = "1" if request.query_params.get("unassigned") == "1" else ""
    result = accounts.list_enterprises(db, user, q=q, active=active, page=_page_number(request),
                                       unassigned=bool(unassigned))

    def link(*, page: int) -> str:
        return "/admin/enterprises?" + urlencode({k: v for k, v in (("q", q), ("active", active),
                                                                     ("unassigned", unassigned), ("page", page)) if v})

    return render(request, "web/admin_enterprises.html", result=result, q=q, active=active, unassigned=unassigned,
                  link=link)


def _new_enterprise_page(request: Request, session: Session, user: Principal, values: dict[str, str],
                         errors: dict[str, str], status: int = 200) -> Response:
    region_choices = accounts.region_choices(session, user)
    return render(request, "web/admin_enterprise_new.html", status=status, values=values, errors=errors,
                  region_choices=region_choices, industry_choices=[(i, i) for i in INDUSTRIES])


@router.get("/admin/enterprises/new")
def new_enterprise_form(request: Request, user: WebUser, db: ReadDb) -> Response:
    _admin(user)
    return _new_enterprise_page(request, db, user, {}, {})


@router.post("/admin/enterprises/new")
def new_enterprise_submit(request: Request, user: WebUser, _: CsrfChecked, form: PostedForm, db: Db) -> Response:
    _admin(user)
    values = _form(form, ENTERPRISE_FIELDS)
    ctx = _ctx(request)
    try:
        with db.begin_nested():  # a refusal rolls its writes back before the form shows it
            name = accounts.create_enterprise(db, user, values, now=ctx.now()).name
    except Invalid as exc:
        return _new_enterprise_page(request, db, user, values, _field_errors(exc, ENTERPRISE_FIELDS), status=422)
    response = RedirectResponse("/admin/enterprises?" + urlencode({"q": values["uscc"].upper()}), status_code=303)
    flash(request, response, f"已添加企业 {name}")
    return response


@router.post("/admin/enterprises/{enterprise_id}/active")
def enterprise_active(request: Request, user: WebUser, enterprise_id: str, _: CsrfChecked, form: PostedForm,
                      db: Db) -> Response:
    _admin(user)
    target_id = _id(enterprise_id)
    active = form_text(form.get("active")) == "1"
    back = form_text(form.get("back"))
    try:  # a refusal is raised on as an error page: `Db` rolls the unit back
        name = accounts.set_enterprise_active(db, user, target_id, active).name
    except NotFound as exc:
        raise ErrorPage(404, "页面不存在", exc.message) from None
    # back to the list the admin was on (only a path of this list: never an outside address)
    target = back if _ENTERPRISES_LIST.fullmatch(back) else "/admin/enterprises"
    response = RedirectResponse(target, status_code=303)
    flash(request, response, f"已启用企业 {name}" if active else f"已停用企业 {name}：不再登记新的隐患，已有隐患照常办理")
    return response

