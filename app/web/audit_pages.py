"""The 审计 page, for auditors and admins: the hash-chain verification (the same check as
`hazard audit verify` and GET /api/v1/audit/verify), the latest events in scope (filtered by who
acted and what they did), and any hazard's trail looked up by its code.
Other roles get the 403 page; a code outside the auditor's scope reads as unknown (no leak)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from app.api.deps import ReadDb
from services.audit import checkpoints as audit_checkpoints, verification as audit
from services.kernel.errors import NotFound
from services.reads.hazards import events_view, id_by_code, recent_events
from services.lifecycle.roles import Role
from services.lifecycle.table import LIFECYCLE
from app.web.errors import ErrorPage
from app.web.render import render
from app.web.session import WebUser

router = APIRouter()
AUDIT_ROLES = frozenset({Role.AUDITOR, Role.ADMIN})


@router.get("/audit")
def audit_page(request: Request, user: WebUser, db: ReadDb, code: str = Query("", max_length=40),
               actor: str = Query("", max_length=100), action: str = Query("", max_length=32)) -> Response:
    if user.role not in AUDIT_ROLES:
        raise ErrorPage(403, "无权访问", "审计页面仅向审计人员和管理员开放。")
    ctx = request.app.state.ctx
    code = code.strip().upper()
    actor = actor.strip()
    action = action if action in LIFECYCLE else ""
    trail: dict[str, Any] | None = None
    lookup_error = None
    evidence = audit_checkpoints.evidence(ctx.settings)
    report = audit.verify(db, evidence=evidence, now=ctx.now()).out()
    recent = recent_events(db, user, actor=actor, action=action)
    if code:
        hazard_id = id_by_code(db, code)
        try:
            if hazard_id is None:
                raise NotFound("隐患不存在或不在您的管辖范围内")
            trail = {"id": hazard_id, "code": code, "events": events_view(db, user, hazard_id)}
        except NotFound as exc:
            lookup_error = f"未找到编号为 {code} 的隐患：{exc.message}"
    return render(request, "web/audit.html", status=404 if lookup_error else 200, report=report, code=code,
                  trail=trail, lookup_error=lookup_error, recent=recent, actor=actor, action=action,
                  actions=[(name, spec.label) for name, spec in LIFECYCLE.items()])
