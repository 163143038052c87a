"""Organisations and people: regions, enterprises, users and their tokens."""

from __future__ import annotations

import csv
import re
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import ApiToken, Enterprise, Region, User
from services.kernel import regions, uscc
from services.accounts.auth import hash_password, issue_token
from services.kernel.errors import Conflict, invalid_field
from services.kernel.inputs import control_message
from services.lifecycle.roles import USER_ROLES, Role
from services.kernel.vocab import INDUSTRIES

REGIONS_CSV = Path(__file__).parents[1] / "data" / "regions-shanxi.csv"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# A username is typed at every login and shown in the audit trail: ASCII letters and digits first,
# then also . _ - @ (an e-mail address will do), 2 to 64 characters (the column's width).
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{1,63}")
USERNAME_RULE = "用户名为 2 至 64 个字符，以英文字母或数字开头，只能包含英文字母、数字和 . _ - @"
NAME_MAX = 200  # an enterprise's name (the column's width)
SUPERVISION_MAX = 100  # 一张表: 行业主管部门 and 监管责任人 (enterprises.* String(100))
DISPLAY_NAME_MAX = 100
PASSWORD_MIN = 8


def check_password(password: str) -> None:
    """The password policy, the same for the CLI and the web pages."""
    if len(password) < PASSWORD_MIN:
        raise invalid_field("password", f"密码至少 {PASSWORD_MIN} 位")
    if len(password) > 256:
        raise invalid_field("password", "密码最多 256 位")
    message = control_message(password)
    if message:
        raise invalid_field("password", message)


def _check_text(field: str, value: str, label: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise invalid_field(field, f"{label}不能为空")
    if len(value) > limit:
        raise invalid_field(field, f"{label}最多 {limit} 个字")
    message = control_message(value)
    if message:
        raise invalid_field(field, message)
    return value


def add_region(session: Session, code: str, name: str, parent: str | None = None) -> Region:
    if not regions.valid_code(code):
        raise invalid_field("code", "行政区划代码应为6位、9位或12位数字")
    if parent and session.get(Region, parent) is None:
        raise invalid_field("parent", f"上级行政区划 {parent} 不存在，请先添加")
    existing = session.get(Region, code)
    if existing is not None:
        if existing.name == name and existing.parent_code == (parent or None):
            return existing
        raise Conflict(f"行政区划 {code} 已存在（{existing.name}）", code="region_exists")
    region = Region(code=code, name=name, parent_code=parent or None, level=regions.region_level(code))
    session.add(region)
    session.flush()
    return region


def load_regions_csv(session: Session, path: Path = REGIONS_CSV) -> int:
    """Load a code,name,parent CSV (parents before children); existing identical rows are kept."""
    count = 0
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            add_region(session, row["code"].strip(), row["name"].strip(), (row.get("parent") or "").strip() or None)
            count += 1
    return count


def _require_region(session: Session, code: str) -> None:
    if session.get(Region, code) is None:
        raise invalid_field("region", f"行政区划 {code} 不存在")


def _require_industry(industry: str) -> None:
    if industry not in INDUSTRIES:
        raise invalid_field("industry", "行业领域应为：" + "、".join(INDUSTRIES))


def add_enterprise(session: Session, code: str, name: str, region_code: str, industry: str, *,
                   now: datetime) -> Enterprise:
    code = code.strip().upper()
    reason = uscc.validate(code)
    if reason:
        raise invalid_field("uscc", reason)
    name = _check_text("name", name, "企业名称", NAME_MAX)
    _require_industry(industry)
    _require_region(session, region_code)
    if session.execute(select(Enterprise.id).where(Enterprise.uscc == code)).first():
        raise Conflict(f"统一社会信用代码 {code} 的企业已存在", code="enterprise_exists")
    ent = Enterprise(uscc=code, name=name, region_code=region_code, industry=industry, created_at=now)
    session.add(ent)
    session.flush()
    return ent


def add_user(session: Session, username: str, role: str, region_code: str, *, now: datetime,
             enterprise_uscc: str | None = None, password: str | None = None,
             display_name: str | None = None, industry: str | None = None,
             email: str | None = None, issue_api_token: bool = True) -> tuple[User, str]:
    """Create a user and a first API token; returns (user, token). With an `email`, the user's
    notifications are also sent by e-mail when the deployment has an SMTP server. Without
    `issue_api_token` (the web pages: a person signs in with the password) the token is ""."""
    if not USERNAME.fullmatch(username):
        raise invalid_field("username", USERNAME_RULE)
    if display_name is not None:
        display_name = _check_text("display_name", display_name, "姓名", DISPLAY_NAME_MAX)
    if role not in USER_ROLES:
        raise invalid_field("role", "角色应为：" + "、".join(USER_ROLES))
    _require_region(session, region_code)
    if session.execute(select(User.id).where(User.username == username)).first():
        raise Conflict(f"用户名 {username} 已存在", code="user_exists")
    if industry is not None:
        _require_industry(industry)
    enterprise_id = None
    if role == Role.ENTERPRISE:
        if not enterprise_uscc:
            raise invalid_field("enterprise", "企业用户须指定所属企业（--enterprise 统一社会信用代码）")
        ent = session.execute(
            select(Enterprise).where(Enterprise.uscc == enterprise_uscc.strip().upper())
        ).scalar_one_or_none()
        if ent is None:
            raise invalid_field("enterprise", f"企业 {enterprise_uscc} 不存在")
        enterprise_id = ent.id
    elif enterprise_uscc:
        raise invalid_field("enterprise", "只有企业用户可以绑定企业")
    if password is not None:
        check_password(password)
    email = email.strip() if email else None
    if email and (len(email) > 200 or not _EMAIL.match(email)):
        raise invalid_field("email", "电子邮箱格式不正确")
    user = User(
        username=username, display_name=display_name or username, role=role, region_code=region_code,
        industry=industry, enterprise_id=enterprise_id,
        password_hash=hash_password(password) if password else None, active=True, created_at=now,
        email=email,
    )
    session.add(user)
    session.flush()
    token = issue_token(session, user, label="cli", now=now) if issue_api_token else ""
    return user, token


def _user(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise invalid_field("username", f"用户 {username} 不存在")
    return user


def new_token(session: Session, username: str, *, now: datetime, label: str = "cli") -> str:
    user = _user(session, username)
    if not user.active:
        raise Conflict(f"用户 {username} 已停用", code="user_inactive")
    return issue_token(session, user, label=label, now=now)


def revoke_tokens(session: Session, username: str, *, now: datetime) -> int:
    """Revoke every live token of a user; returns how many. API processes cache a token for at most
    `HAZARD_TOKEN_CACHE_SECONDS`."""
    user = _user(session, username)
    result = session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=now)
    )
    return result.rowcount


def set_active(session: Session, username: str, active: bool) -> None:
    _user(session, username).active = active
    session.flush()


def set_password(session: Session, username: str, password: str) -> None:
    check_password(password)
    _user(session, username).password_hash = hash_password(password)
    session.flush()


def set_enterprise_active(session: Session, code: str, active: bool) -> Enterprise:
    """A disabled enterprise keeps its records (its hazards go on) but takes no new hazards."""
    ent = session.execute(select(Enterprise).where(Enterprise.uscc == code.strip().upper())).scalar_one_or_none()
    if ent is None:
        raise invalid_field("uscc", f"企业 {code} 不存在")
    ent.active = active
    session.flush()
    return ent
