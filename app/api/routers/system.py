"""Audit verification, health and metrics."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.responses import PlainTextResponse

from services.audit import checkpoints as audit_checkpoints, verification as audit
from services.mirror import stream as mirror_stream
from services.reads import health
from app.api.deps import Caller, Ctx, ReadDb, _bearer, current_principal
from app.api.schemas import ErrorOut, HealthOut, VerifyOut
from services.kernel.errors import Forbidden, Unauthorized
from services.lifecycle.roles import Role

router = APIRouter(tags=["system"])

VERIFIERS = {Role.AUDITOR, Role.ADMIN, Role.COMMITTEE, Role.SUPERVISOR}


@router.get("/api/v1/audit/verify", response_model=VerifyOut, summary="审计链校验",
            responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}})
def verify_audit(ctx: Ctx, caller: Caller, db: ReadDb) -> VerifyOut:
    """Recompute every hash chain, check them against the last checkpoint and the checkpoint log,
    and replay every hazard's events against its row."""
    if caller.role not in VERIFIERS:
        raise Forbidden("当前角色无权执行审计校验", code="role")
    evidence = audit_checkpoints.evidence(ctx.settings)
    return audit.verify(db, evidence=evidence, now=ctx.now()).out()


@router.get("/healthz", response_model=HealthOut, summary="健康检查")
def healthz(db: ReadDb) -> HealthOut:
    health.database_answers(db)
    return HealthOut(status="ok")


METRICS_READERS = {Role.ADMIN, Role.AUDITOR}


async def _metrics_reader(ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """/metrics tells request counts and timings per route: open only when `HAZARD_METRICS_PUBLIC`
    says so; otherwise the scraper sends `HAZARD_METRICS_TOKEN`, or an admin's or auditor's token."""
    if ctx.settings.metrics_public:
        return
    token = credentials.credentials if credentials is not None else ""
    expected = ctx.settings.metrics_token
    if token and expected is not None and hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
        return
    if not token:
        raise Unauthorized("读取指标须带 Authorization: Bearer <令牌>（HAZARD_METRICS_TOKEN 或管理员、审计人员的令牌）")
    caller = await current_principal(ctx, credentials)
    if caller.role not in METRICS_READERS:
        raise Forbidden("当前角色无权读取服务指标", code="role")


def _json_error(description: str) -> dict[str, Any]:
    # Spelled out: the route's own media type is text/plain, its errors are the usual JSON.
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}


@router.get("/metrics", response_class=PlainTextResponse, response_model=str, summary="Prometheus 指标",
            responses={401: _json_error("未带令牌或令牌无效"), 403: _json_error("角色无权读取指标")})
def metrics(ctx: Ctx, db: ReadDb, _: Annotated[None, Depends(_metrics_reader)]) -> str:
    mirror = mirror_stream.read_status(db)
    return ctx.metrics.render() + "".join((
        "# HELP hazard_mirror_queued_items Hazards and task parts with acts not yet shown in Prefect.\n",
        "# TYPE hazard_mirror_queued_items gauge\n",
        f"hazard_mirror_queued_items {mirror.queued_items}\n",
        "# HELP hazard_mirror_failing_items Items whose last write to Prefect failed (retried with backoff).\n",
        "# TYPE hazard_mirror_failing_items gauge\n",
        f"hazard_mirror_failing_items {mirror.failing_items}\n",
    ))
