"""Audit verification, health and metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from sqlalchemy import text

from db.engine import read_only
from services import audit
from services.api.deps import Caller, Ctx
from services.api.schemas import ErrorOut, VerifyOut
from services.errors import Forbidden
from services.lifecycle import Role

router = APIRouter(tags=["system"])

VERIFIERS = {Role.AUDITOR, Role.ADMIN, Role.COMMITTEE, Role.SUPERVISOR}


@router.get("/api/v1/audit/verify", response_model=VerifyOut, summary="审计链校验",
            responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}})
def verify_audit(ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """Recompute every hash chain and check them against the last checkpoint."""
    if caller.role not in VERIFIERS:
        raise Forbidden("当前角色无权执行审计校验", code="role")
    with read_only(ctx.factory) as session:
        return audit.verify(session).as_dict()


@router.get("/healthz", summary="健康检查")
def healthz(ctx: Ctx) -> dict[str, Any]:
    with read_only(ctx.factory) as session:
        session.execute(text("select 1"))
    return {"status": "ok"}


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus 指标")
def metrics(ctx: Ctx) -> str:
    return ctx.metrics.render()
