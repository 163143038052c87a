"""Rendering the web UI's pages: one Jinja2 environment for every page.

Autoescape and StrictUndefined are on: a missing variable is an error, not an empty string, and a
user's text is always data, never a template. Every page gets `user`, `csrf_token`, `nav`, `flash`
and the label/date helpers, so templates never re-declare a state's or level's Chinese name.

Flash messages travel in a short-lived signed cookie across the 303 after a successful form; the
next page shows the message once and clears the cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse, Response

from services.kernel.clock import SHANGHAI, cn_date
from services.documents.kinds import KINDS
from services.escalation.ladder import STEP_LABELS
from services.lifecycle.roles import ROLE_LABELS, Role
from services.lifecycle.states import STATE_LABELS, State
from services.lifecycle.table import LIFECYCLE
from services.kernel.vocab import ASSESSMENTS, LEVELS, LISTING_LEVELS, SOURCES
from app.web.forms import CHOICES, fields_of

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
SERVICE_NAME = "事故隐患闭环管理"
FLASH_COOKIE = "hz_flash"

env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True, undefined=StrictUndefined,
                  trim_blocks=True, lstrip_blocks=True)


def fmt_date(value: date | datetime | str | None) -> str:
    """2026年11月24日 (a moment is shown on its Shanghai date)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.astimezone(SHANGHAI).date()
    return cn_date(value)


def fmt_datetime(value: datetime | str | None) -> str:
    """2026年11月24日 10:00 in Asia/Shanghai."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    local = value.astimezone(SHANGHAI)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def state_label(value: str | None) -> str:
    return STATE_LABELS[State(value)] if value else "—"


def action_label(value: str) -> str:
    spec = LIFECYCLE.get(value)
    return spec.label if spec else value


def role_label(value: str) -> str:
    return ROLE_LABELS.get(Role(value), value) if value in Role._value2member_map_ else value


def _label(table: dict[str, str]):
    return lambda value: table.get(value or "", "—")


# Closed vocabularies an action body carries, shown by their Chinese names in the timeline.
_VALUE_LABELS: dict[str, dict[str, str]] = {
    **CHOICES, "source": SOURCES, "state": {s.value: label for s, label in STATE_LABELS.items()},
    "step": {step.name: label for step, label in STEP_LABELS.items()},
    "kind": {k.name: k.label for k in KINDS.values()},
}
# Every date field of every action's body, read off the body models as the forms are.
_DATE_FIELDS = frozenset(f.name for spec in LIFECYCLE.values() for f in fields_of(spec.body) if f.kind == "date")


def shown(key: str, value: Any) -> str:
    """A body value as a reader of the timeline expects it: 重大隐患 rather than `major`, a date
    in Chinese, 是 for a set flag, a count for a list of attachments."""
    if value is True:
        return "是"
    if value is False:
        return "否"
    if isinstance(value, (list, tuple)):
        return f"{len(value)} 个附件"
    if key in _VALUE_LABELS:
        return _VALUE_LABELS[key].get(str(value), str(value))
    if key in _DATE_FIELDS and isinstance(value, str):
        try:
            return fmt_date(value)
        except ValueError:
            return value
    return str(value)


env.filters.update(date=fmt_date, datetime=fmt_datetime)
env.globals.update(
    SERVICE_NAME=SERVICE_NAME, state_label=state_label, action_label=action_label, role_label=role_label,
    level_label=_label(LEVELS), source_label=_label(SOURCES), listing_label=_label(LISTING_LEVELS),
    assessment_label=_label(ASSESSMENTS), shown=shown,
)

# (label, path, roles that see it; None: everyone logged in)
NAV: tuple[tuple[str, str, frozenset[str] | None], ...] = (
    ("待办", "/", None),
    ("消息", "/messages", None),
    ("台账", "/ledger", None),
    ("看板", "/dashboard", None),
    ("月报", "/reports/monthly", frozenset({Role.COMMITTEE, Role.SUPERVISOR, Role.INSPECTOR, Role.AUDITOR, Role.ADMIN})),
    ("企业自查", "/self-inspections", frozenset({Role.ENTERPRISE, Role.COMMITTEE, Role.SUPERVISOR, Role.INSPECTOR,
                                              Role.AUDITOR, Role.ADMIN})),
    ("通报", "/bulletins", frozenset({Role.COMMITTEE, Role.SUPERVISOR, Role.AUDITOR})),
    ("问责约谈", "/accountability", frozenset({Role.COMMITTEE, Role.SUPERVISOR, Role.AUDITOR})),
    ("企业", "/enterprises", frozenset({Role.COMMITTEE, Role.SUPERVISOR, Role.INSPECTOR, Role.AUDITOR, Role.ADMIN})),
    ("黑名单", "/blacklist", frozenset({Role.COMMITTEE})),
    ("任务清单", "/plans", frozenset({Role.COMMITTEE})),
    ("我的任务", "/tasks", frozenset({Role.INSPECTOR, Role.SUPERVISOR, Role.COMMITTEE, Role.AUDITOR})),
    ("上报隐患", "/hazards/new", LIFECYCLE["report"].roles - {Role.PUBLIC}),
    ("审计", "/audit", frozenset({Role.AUDITOR, Role.ADMIN})),
    ("管理", "/admin", frozenset({Role.ADMIN})),
    ("举报", "/report", None),
)


def nav(user: Any, path: str) -> list[dict[str, Any]]:
    if user is None:
        return [{"label": "举报", "href": "/report", "current": path == "/report"},
                {"label": "举报查询", "href": "/track", "current": path == "/track"},
                {"label": "曝光", "href": "/public/exposure", "current": path == "/public/exposure"}]
    items = []
    for label, href, roles in NAV:
        if roles is None or user.role in roles:
            current = path == href if href == "/" else path == href or path.startswith(href + "/")
            items.append({"label": label, "href": href, "current": current})
    return items


# --- flash ----------------------------------------------------------------------------------------


def _flash_sig(request: Request, data: str) -> str:
    secret = request.app.state.ctx.settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, f"flash:{data}".encode(), hashlib.sha256).hexdigest()[:32]


def flash(request: Request, response: Response, message: str) -> None:
    """Show `message` once on the next page this browser renders."""
    data = base64.urlsafe_b64encode(message.encode()).decode()
    response.set_cookie(FLASH_COOKIE, f"{data}.{_flash_sig(request, data)}", max_age=120, path="/",
                        httponly=True, samesite="lax")


def _read_flash(request: Request) -> str | None:
    data, _, sig = request.cookies.get(FLASH_COOKIE, "").partition(".")
    if not data or not hmac.compare_digest(sig, _flash_sig(request, data)):
        return None
    try:
        return base64.urlsafe_b64decode(data.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        return None


# --- render ---------------------------------------------------------------------------------------


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    live = getattr(request.state, "web_live", None)
    user = live.principal if live is not None else None
    message = _read_flash(request)
    values: dict[str, Any] = {
        "request": request, "user": user, "csrf_token": live.csrf_token if live is not None else "",
        "nav": nav(user, request.url.path), "flash": message, "path": request.url.path,
    }
    values.update(context)
    response = HTMLResponse(env.get_template(template).render(values), status_code=status)
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/")
    response.headers["Cache-Control"] = "no-store"  # CSP, nosniff, framing: app.api.security_headers
    return response
