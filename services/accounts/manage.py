"""What an admin does to people and enterprises from the web pages (`/admin/...`): list and search,
add, disable and enable, reset a user's password.

The rules of each record are the CLI's (`services.accounts.admin`: username and password policy, a role's
region, industry and enterprise). What this module adds is who may act, checked here and not in
the page, so any other entry point gets the same answer: only an admin (403 otherwise), and only
on users and enterprises of the admin's own region subtree, where a user or enterprise outside it
answers 404 like a hazard out of scope (a county admin neither sees nor resets a province
official's account, nor creates one above its county). An admin does not disable itself, and the
`system` account is the CLI's alone.

Disabling a user revokes its API tokens and ends its web sessions; a password reset ends its web
sessions. Organisational acts have no hash-chained trail (the audit trail is per hazard): each act
is a structured log line (`admin_user_added`, `admin_user_disabled`, ..., with the acting admin and
the target) at INFO, and never carries a password.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import Enterprise, Region, User
from services.accounts import admin, web_sessions
from services.kernel import regions
from services.accounts.auth import Principal
from services.reads import directory
from services.kernel.errors import Conflict, Forbidden, Invalid, NotFound, invalid_field
from services.kernel.inputs import MAX_ID, control_message
from services.lifecycle.roles import ROLE_LABELS, USER_ROLES, Role
from services.kernel.vocab import INDUSTRIES

log = structlog.get_logger("hazard.accounts")

PER_PAGE = 50
QUERY_MAX = 100
# Roles an admin may give from the web pages: `system` is the escalation's account, made by the CLI.
WEB_ROLES = tuple(r for r in USER_ROLES if r is not Role.SYSTEM)
_PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"  # no 0/O, 1/l/I


def require_admin(actor: Principal) -> None:
    if actor.role != Role.ADMIN:
        raise Forbidden("仅管理员可以管理用户和企业", code="admin_only")


def _within(actor: Principal, region_code: str) -> bool:
    return regions.within(region_code, actor.region_code)


def generate_password() -> str:
    """A one-time password to hand over: 12 characters that cannot be misread, in groups of four."""
    raw = "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(12))
    return "-".join(raw[i:i + 4] for i in range(0, 12, 4))


def clean_query(text: str | None) -> str:
    """A search box's text: trimmed, at most `QUERY_MAX` characters, nothing unprintable."""
    text = (text or "").strip()[:QUERY_MAX]
    return "" if control_message(text) else text


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int
    page: int
    pages: int


def _page(session: Session, query: Select[Any], page: int, row) -> Page:
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    pages = max(1, -(-total // PER_PAGE))
    current = min(max(page, 1), pages)
    rows = session.execute(query.offset((current - 1) * PER_PAGE).limit(PER_PAGE)).all()
    return Page([row(*r) for r in rows], total, current, pages)


# --- users ----------------------------------------------------------------------------------------


def list_users(session: Session, actor: Principal, *, q: str = "", role: str = "", page: int = 1) -> Page:
    """Users of the admin's region subtree, by username; `q` matches username or name."""
    require_admin(actor)
    query = (select(User, Region.name, Enterprise.name).join(Region, Region.code == User.region_code)
             .outerjoin(Enterprise, Enterprise.id == User.enterprise_id)
             .where(User.region_code.startswith(actor.region_prefix, autoescape=True)).order_by(User.username))
    if q:
        query = query.where(or_(User.username.icontains(q, autoescape=True),
                                User.display_name.icontains(q, autoescape=True)))
    if role in USER_ROLES:
        query = query.where(User.role == role)
    return _page(session, query, page, lambda u, region, ent: user_view(u, region, ent))


def user_view(user: User, region_name: str | None, enterprise_name: str | None) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role,
            "role_label": ROLE_LABELS.get(Role(user.role), user.role), "region_code": user.region_code,
            "region_name": region_name or user.region_code, "industry": user.industry,
            "enterprise_name": enterprise_name, "email": user.email, "active": user.active,
            "has_password": user.password_hash is not None, "created_at": user.created_at}


def _user_in_scope(session: Session, actor: Principal, user_id: int) -> User:
    require_admin(actor)
    user = session.get(User, user_id) if 0 < user_id <= MAX_ID else None
    if user is None or not _within(actor, user.region_code):
        raise NotFound("用户不存在或不在您的管辖范围内")
    return user


def get_user(session: Session, actor: Principal, user_id: int) -> dict[str, Any]:
    user = _user_in_scope(session, actor, user_id)
    region = session.get(Region, user.region_code)
    ent = session.get(Enterprise, user.enterprise_id) if user.enterprise_id else None
    return user_view(user, region.name if region else None, f"{ent.name}（{ent.uscc}）" if ent else None)


def create_user(session: Session, actor: Principal, data: dict[str, str], *, now: datetime) -> tuple[User, str]:
    """Add a user as `hazard users add` does, within the admin's scope; returns (user, the password
    to hand over: the one typed, or a generated one when none was)."""
    require_admin(actor)
    role = data.get("role", "")
    problems: list[dict[str, str]] = []
    if role == Role.SYSTEM:
        problems.append({"field": "role", "message": "系统账号只能通过命令行创建"})
    elif role not in WEB_ROLES:
        problems.append({"field": "role", "message": "请选择角色"})
    region_code = data.get("region_code", "")
    if not region_code:
        problems.append({"field": "region_code", "message": "请选择所属行政区划"})
    elif not regions.valid_code(region_code) or not _within(actor, region_code):
        problems.append({"field": "region_code", "message": "只能在本辖区内添加用户"})
    uscc = data.get("enterprise_uscc", "").strip().upper()
    if uscc:
        ent = session.execute(select(Enterprise).where(Enterprise.uscc == uscc)).scalar_one_or_none()
        if ent is not None and not _within(actor, ent.region_code):
            problems.append({"field": "enterprise_uscc", "message": "只能为本辖区内的企业添加用户"})
        elif ent is not None and not ent.active:
            problems.append({"field": "enterprise_uscc", "message": f"{ent.name}已停用，不能为其添加用户"})
    industry = data.get("industry") or None
    if industry is not None and industry not in INDUSTRIES:
        problems.append({"field": "industry", "message": "请选择行业领域"})
    if problems:
        raise Invalid("提交的内容有误，请按提示修改。", details=problems)
    password = data.get("password") or generate_password()
    try:
        user, _ = admin.add_user(
            session, data.get("username", ""), role, region_code, now=now, enterprise_uscc=uscc or None,
            password=password, display_name=data.get("display_name") or None, industry=industry,
            email=data.get("email") or None, issue_api_token=False,
        )
    except Conflict as exc:
        raise invalid_field("username", exc.message) from None
    except IntegrityError:  # the same name added at the same moment elsewhere
        raise invalid_field("username", "用户名已存在") from None
    log.info("admin_user_added", admin=actor.username, user=user.username, role=user.role, region=user.region_code)
    return user, password


def set_user_active(session: Session, actor: Principal, user_id: int, active: bool, *, now: datetime) -> User:
    user = _user_in_scope(session, actor, user_id)
    if not active and user.id == actor.id:
        raise Conflict("不能停用自己的账号", code="self_disable")
    if user.role == Role.SYSTEM:
        raise Conflict("系统账号只能通过命令行管理", code="system_account")
    admin.set_active(session, user.username, active)
    if not active:
        admin.revoke_tokens(session, user.username, now=now)
        web_sessions.end_user_sessions(session, user.id, now=now)
    log.info("admin_user_enabled" if active else "admin_user_disabled", admin=actor.username, user=user.username)
    return user


def reset_password(session: Session, actor: Principal, user_id: int, password: str | None, *,
                   now: datetime) -> tuple[User, str]:
    """Set the typed password (the CLI's policy) or a generated one; the user's web sessions end.
    Returns (user, the password to hand over)."""
    user = _user_in_scope(session, actor, user_id)
    if user.role == Role.SYSTEM:
        raise Conflict("系统账号只能通过命令行管理", code="system_account")
    chosen = password or generate_password()
    admin.set_password(session, user.username, chosen)
    web_sessions.end_user_sessions(session, user.id, now=now)
    log.info("admin_password_reset", admin=actor.username, user=user.username, generated=not password)
    return user, chosen


# --- enterprises ----------------------------------------------------------------------------------


def enterprise_view(ent: Enterprise, region_name: str | None) -> dict[str, Any]:
    return {"id": ent.id, "uscc": ent.uscc, "name": ent.name, "region_code": ent.region_code,
            "region_name": region_name or ent.region_code, "industry": ent.industry, "active": ent.active,
            "created_at": ent.created_at, "supervising_department": ent.supervising_department,
            "responsible_official": ent.responsible_official}


def list_enterprises(session: Session, actor: Principal, *, q: str = "", active: str = "", page: int = 1,
                     unassigned: bool = False) -> Page:
    """Enterprises of the admin's region subtree, by name; `q` matches the name or the code;
    `unassigned`: only those without a supervising department (一张表: none may stay so)."""
    require_admin(actor)
    query = (select(Enterprise, Region.name).join(Region, Region.code == Enterprise.region_code)
             .where(Enterprise.region_code.startswith(actor.region_prefix, autoescape=True))
             .order_by(Enterprise.name, Enterprise.id))
    if q:
        query = query.where(or_(Enterprise.name.icontains(q, autoescape=True),
                                Enterprise.uscc.icontains(q.upper(), autoescape=True)))
    if active in ("yes", "no"):
        query = query.where(Enterprise.active.is_(active == "yes"))
    if unassigned:
        query = query.where(or_(Enterprise.supervising_department.is_(None), Enterprise.supervising_department == ""))
    return _page(session, query, page, enterprise_view)


def create_enterprise(session: Session, actor: Principal, data: dict[str, str], *, now: datetime) -> Enterprise:
    require_admin(actor)
    region_code = data.get("region_code", "")
    problems = []
    if not region_code:
        problems.append({"field": "region_code", "message": "请选择所在行政区划"})
    elif not regions.valid_code(region_code) or not _within(actor, region_code):
        problems.append({"field": "region_code", "message": "只能在本辖区内添加企业"})
    if data.get("industry", "") not in INDUSTRIES:
        problems.append({"field": "industry", "message": "请选择行业领域"})
    if not data.get("uscc"):
        problems.append({"field": "uscc", "message": "请填写统一社会信用代码"})
    if not data.get("name"):
        problems.append({"field": "name", "message": "请填写企业名称"})
    for field in ("supervising_department", "responsible_official"):  # 一张表: optional here
        if len(data.get(field) or "") > admin.SUPERVISION_MAX:
            problems.append({"field": field, "message": f"最多 {admin.SUPERVISION_MAX} 个字"})
    if problems:
        raise Invalid("提交的内容有误，请按提示修改。", details=problems)
    try:
        ent = admin.add_enterprise(session, data["uscc"], data["name"], region_code, data["industry"], now=now)
        ent.supervising_department = data.get("supervising_department") or None
        ent.responsible_official = data.get("responsible_official") or None
        session.flush()
    except Conflict as exc:
        raise invalid_field("uscc", exc.message) from None
    except IntegrityError:  # the same code added at the same moment elsewhere
        raise invalid_field("uscc", "该统一社会信用代码的企业已存在") from None
    log.info("admin_enterprise_added", admin=actor.username, uscc=ent.uscc, region=ent.region_code)
    return ent


def set_enterprise_active(session: Session, actor: Principal, enterprise_id: int, active: bool) -> Enterprise:
    require_admin(actor)
    ent = session.get(Enterprise, enterprise_id) if 0 < enterprise_id <= MAX_ID else None
    if ent is None or not _within(actor, ent.region_code):
        raise NotFound("企业不存在或不在您的管辖范围内")
    admin.set_enterprise_active(session, ent.uscc, active)
    log.info("admin_enterprise_enabled" if active else "admin_enterprise_disabled", admin=actor.username,
             uscc=ent.uscc)
    return ent


def region_choices(session: Session, actor: Principal) -> list[tuple[str, str]]:
    return [(r.code, r.label) for r in directory.regions(session, actor.region_prefix)]
