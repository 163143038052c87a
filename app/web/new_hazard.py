"""`/hazards/new`: a signed-in inspector, supervisor, committee office or enterprise writes up a
hazard they found (the public has `/report`).

The form posts the `report` action's body through the same use case as `POST /api/v1/hazards`, so
scope, industry and the 发现日期 rules are the lifecycle's. Each rendered form carries its own
idempotency key: submitting it twice (a double click, a reload after the POST) files one hazard and
lands on it both times.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from app.api.deps import Db, ReadDb
from services.engine import commands
from services.reads import directory
from services.accounts.auth import Principal
from services.kernel.clock import local_date
from services.kernel.errors import Conflict, DomainError, Invalid
from services.kernel.inputs import form_text
from services.lifecycle.roles import Role
from services.lifecycle.table import LIFECYCLE
from services.kernel.vocab import INDUSTRIES, SOURCES
from app.web.render import flash, render
from app.web.csrf import CsrfChecked
from app.web.forms import PostedForm
from app.web.session import WebUser

router = APIRouter()

FIELDS = ("title", "description", "location", "region_code", "industry", "source", "enterprise_uscc",
          "discovered_on")
MAX_ENTERPRISES = 3000  # suggestions offered in the form; any valid code in scope is accepted


def may_report(user: Principal) -> bool:
    return user.role in LIFECYCLE["report"].roles and user.role != Role.PUBLIC


def _choices(session: Session, user: Principal) -> dict[str, Any]:
    """What the form offers this user: regions of their scope, their industry, enterprises nearby."""
    offered = directory.report_choices(session, user, limit=MAX_ENTERPRISES)
    return {
        "region_choices": [(r.code, r.label) for r in offered.regions],
        "enterprises": [(e.code, e.name) for e in offered.enterprises],
        "industry_choices": [(i, i) for i in ([user.industry] if user.industry else INDUSTRIES)],
        "sources": [(k, v) for k, v in SOURCES.items() if k != "public_report"],
        "own": offered.own,
    }


def _defaults(request: Request, user: Principal, choices: dict[str, Any]) -> dict[str, str]:
    own = choices["own"]
    values = {"discovered_on": local_date(request.app.state.ctx.now()).isoformat(),
              "source": "self_check" if own else "inspection"}
    if own:
        values.update(region_code=own.region_code, enterprise_uscc=own.uscc, industry=own.industry)
    elif len(choices["region_choices"]) == 1:
        values["region_code"] = choices["region_choices"][0][0]
    if user.industry:
        values["industry"] = user.industry
    return values


def _page(request: Request, session: Session, user: Principal, *, values: dict[str, str] | None = None,
          errors: dict[str, str] | None = None, message: str | None = None, form_key: str | None = None,
          status: int = 200) -> Response:
    choices = _choices(session, user)
    return render(request, "web/new_hazard.html", status=status,
                  values=values if values is not None else _defaults(request, user, choices),
                  errors=errors or {}, message=message, form_key=form_key or secrets.token_urlsafe(16),
                  today=local_date(request.app.state.ctx.now()).isoformat(), **choices)


@router.get("/hazards/new")
def new_hazard_form(request: Request, user: WebUser, db: ReadDb) -> Response:
    if not may_report(user):
        return render(request, "web/error.html", status=403, title="无权上报隐患",
                      message="当前账号的角色不能在系统中上报隐患。群众举报请使用“举报”页面。")
    return _page(request, db, user)


def _values(form: FormData) -> dict[str, str]:
    return {k: form_text(form.get(k)) for k in FIELDS}


@router.post("/hazards/new")
def new_hazard_submit(request: Request, user: WebUser, _: CsrfChecked, form: PostedForm, db: Db) -> Response:
    if not may_report(user):
        return render(request, "web/error.html", status=403, title="无权上报隐患",
                      message="当前账号的角色不能在系统中上报隐患。")
    ctx = request.app.state.ctx
    values = _values(form)
    raw_key = form.get("form_key")
    form_key = (raw_key if isinstance(raw_key, str) and re.fullmatch(r"[A-Za-z0-9_-]{8,64}", raw_key)
                else secrets.token_urlsafe(16))
    key = f"web-new:{form_key}"
    body = {k: v for k, v in values.items() if v}
    try:
        with db.begin_nested():  # a refusal rolls its writes back before the form shows it
            hazard = commands.report_hazard(db, user, body, now=ctx.now(), idempotency_key=key).body
    except Invalid as exc:
        errors: dict[str, str] = {}
        for d in exc.details or []:
            field = str(d.get("field", "")).split(".")[0]
            errors.setdefault(field if field in FIELDS else "_", d["message"])
        return _page(request, db, user, values=values, errors=errors, message=exc.message, form_key=form_key,
                     status=422)
    except Conflict as exc:
        if exc.code != "idempotency_key_reused":
            raise
        # This form already filed a hazard and was then changed (Back, edit, send): say so, and
        # hand out a new key, so sending it once more files the changed text as a new hazard.
        return _page(request, db, user, values=values, status=409,
                     message="这张表单已经上报过一条隐患。如确需再上报一条，请核对内容后再次提交。")
    except DomainError as exc:
        return _page(request, db, user, values=values, message=exc.message, status=exc.status, form_key=form_key)
    response = RedirectResponse(f"/hazards/{hazard.id}", status_code=303)
    flash(request, response, f"已上报隐患，编号 {hazard.code}")
    return response
