"""The transaction path of every state change (DESIGN 3).

Inside one transaction, opened and committed by the caller through `db.engine.transaction`:
load the hazard, check scope, then the lifecycle's decision (role, state, guards, body), then
compare-and-set the row on its version, append the hash-chained audit event and the outbox rows.
Nothing here commits.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from db.models import Attachment, Enterprise, Hazard, HazardSequence, OutboxMessage, Region
from services import audit, regions
from services.auth import Principal, in_scope
from services.bodies import ReportBody
from services.clock import local_date
from services.errors import Conflict, Forbidden, Invalid, NotFound, invalid_field
from services.lifecycle import LIFECYCLE, ActionSpec, Context, Refusal, Role, State, check_body, check_pre
from services.validation import parse

TRACKING_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
MAX_ID = 2**63 - 1  # ids are BIGINT; a larger number from a URL or body cannot exist (SQLite raises on it)

# Built once: the per-transition statements, their values passed as parameters. Building them per
# call (`.values(**values)` on the ORM entity, `session.get`) cost more CPU than the rest of the
# transition (bench/transitions, bench/RESULTS.md). The compare-and-set's SET clause is the
# parameters that name a column; `cas_id`/`cas_version` are the WHERE.
_HAZARDS = Hazard.__table__
_LOAD_HAZARD = select(Hazard).where(Hazard.id == bindparam("hazard_id")).execution_options(populate_existing=True)
_CAS_UPDATE = update(_HAZARDS).where(
    _HAZARDS.c.id == bindparam("cas_id"), _HAZARDS.c.version == bindparam("cas_version")
)
_OUTBOX_INSERT = insert(OutboxMessage.__table__)


def _raise(refusal: Refusal) -> None:
    if refusal.kind in ("role", "forbidden"):
        raise Forbidden(refusal.message, code=refusal.code)
    if refusal.kind in ("state", "conflict"):
        raise Conflict(refusal.message, code=refusal.code)
    raise Invalid(
        "提交的内容有误，请按提示修改。",
        code=refusal.code,
        details=[{"field": refusal.field or "body", "message": refusal.message, "type": refusal.code}],
    )


def next_hazard_code(session: Session, region_code: str, year: int) -> str:
    """`<county>-<year>-<seq>`; the counter row is created on first use and bumped atomically."""
    county = regions.county_of(region_code)
    ins = (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(
        HazardSequence
    ).values(region_code=county, year=year, last_value=0)
    session.execute(ins.on_conflict_do_nothing())
    value = session.execute(
        update(HazardSequence)
        .where(HazardSequence.region_code == county, HazardSequence.year == year)
        .values(last_value=HazardSequence.last_value + 1)
        .returning(HazardSequence.last_value)
    ).scalar_one()
    return f"{county}-{year}-{value:06d}"


def _enterprise_by_uscc(session: Session, code: str, field: str) -> Enterprise:
    ent = session.execute(select(Enterprise).where(Enterprise.uscc == code)).scalar_one_or_none()
    if ent is None:
        raise invalid_field(field, "未找到该统一社会信用代码对应的企业，请先登记企业")
    return ent


def _json_changes(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: (format(v, "f") if isinstance(v, Decimal) else v) for k, v in changes.items()}


def _write_effects(session: Session, hazard: Hazard, spec: ActionSpec, seq: int, event_id: int,
                   now: datetime, extra: dict[str, Any] | None = None) -> None:
    if not spec.effects:
        return
    payload = audit.canonical(
        {"hazard_id": hazard.id, "hazard_code": hazard.code, "action": spec.action, "seq": seq,
         "event_id": event_id, **(extra or {})}
    )
    session.execute(
        _OUTBOX_INSERT,
        [
            {"hazard_id": hazard.id, "event_id": event_id, "kind": kind, "payload": payload,
             "dedupe_key": f"{kind}:{hazard.id}:{seq}", "status": "pending", "attempts": 0,
             "available_at": now, "created_at": now}
            for kind in spec.effects
        ],
    )


def report(session: Session, actor: Principal, data: Any, *, now: datetime,
           public_contact: dict[str, Any] | None = None) -> Hazard:
    """Create a hazard in `reported` with its first audit event."""
    spec = LIFECYCLE["report"]
    if actor.role not in spec.roles:
        raise Forbidden(f"当前角色无权执行“{spec.label}”", code="role")
    body = data if isinstance(data, ReportBody) else parse(ReportBody, data)
    if session.get(Region, body.region_code) is None:
        raise invalid_field("region_code", "未知的行政区划代码")
    enterprise_id = None
    if actor.role == Role.ENTERPRISE:
        enterprise_id = actor.enterprise_id
        if body.enterprise_uscc:
            ent = _enterprise_by_uscc(session, body.enterprise_uscc, "enterprise_uscc")
            if ent.id != actor.enterprise_id:
                raise invalid_field("enterprise_uscc", "企业用户只能报告本企业的隐患")
    else:
        if actor.role not in (Role.PUBLIC, Role.SYSTEM) and not regions.within(body.region_code, actor.region_code):
            raise Forbidden("只能报告本辖区内的隐患", code="out_of_scope")
        if actor.role in (Role.INSPECTOR, Role.SUPERVISOR) and actor.industry and body.industry != actor.industry:
            raise Forbidden(f"只能报告分管行业（{actor.industry}）的隐患", code="out_of_scope")
        if body.enterprise_uscc:
            enterprise_id = _enterprise_by_uscc(session, body.enterprise_uscc, "enterprise_uscc").id
    code = next_hazard_code(session, body.region_code, local_date(now).year)
    hazard = Hazard(
        code=code, title=body.title, description=body.description, location=body.location,
        industry=body.industry, source=body.source, region_code=body.region_code,
        enterprise_id=enterprise_id, state=State.REPORTED, version=1, suspended=False,
        discovered_at=now, reported_by_id=actor.id, created_at=now, updated_at=now,
        extensions_granted=0, failed_acceptances=0, audit_head="",
        tracking_code=_tracking_code() if actor.role == Role.PUBLIC else None,
    )
    session.add(hazard)
    session.flush()
    payload: dict[str, Any] = {"body": body.model_dump(mode="json")}
    if public_contact:
        payload["public"] = public_contact
    event = audit.build_event(
        hazard_id=hazard.id, seq=1, prev_hash=audit.genesis_hash(code), action="report",
        actor_id=actor.id, actor_role=actor.role, actor_name=actor.display_name, from_state=None,
        to_state=State.REPORTED, payload=payload, occurred_at=now,
    )
    hazard.audit_head = event["hash"]
    session.flush()
    event_id = audit.insert_event(session, event)
    _write_effects(session, hazard, spec, 1, event_id, now)
    return hazard


def _tracking_code() -> str:
    return "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(12))


def load_in_scope(session: Session, actor: Principal, hazard_id: int) -> Hazard:
    hazard = (session.execute(_LOAD_HAZARD, {"hazard_id": hazard_id}).scalar_one_or_none()
              if 0 < hazard_id <= MAX_ID else None)
    if hazard is None or not in_scope(actor, hazard):
        raise NotFound("隐患不存在或不在您的管辖范围内")
    return hazard


def _check_attachments(session: Session, hazard: Hazard, ids: list[int], field: str) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = session.execute(
        select(Attachment.id, Attachment.sha256, Attachment.filename).where(
            Attachment.id.in_([i for i in ids if 0 < i <= MAX_ID]), Attachment.hazard_id == hazard.id
        )
    ).all()
    found = {r.id: r for r in rows}
    missing = [i for i in ids if i not in found]
    if missing:
        raise invalid_field(field, f"附件不存在或不属于该隐患：{', '.join(map(str, missing))}")
    return [{"id": i, "sha256": found[i].sha256, "filename": found[i].filename} for i in ids]


def perform(session: Session, actor: Principal, hazard_id: int, action: str, data: Any, *,
            now: datetime, if_match: int | None = None, extension_min_working_days: int = 15) -> Hazard:
    """Carry out one lifecycle action; returns the hazard as it is after the action."""
    spec = LIFECYCLE.get(action)
    if spec is None or action == "report":
        raise NotFound(f"没有名为“{action}”的操作", code="unknown_action")
    hazard = load_in_scope(session, actor, hazard_id)
    refusal = check_pre(spec, hazard, actor)
    if refusal:
        _raise(refusal)
    if if_match is not None and if_match != hazard.version:
        raise Conflict("该隐患已被他人更新，请刷新后重试", code="stale_version",
                       details={"expected": if_match, "current": hazard.version})
    body = parse(spec.body, data)
    ctx = Context(today=local_date(now), now=now,
                  extension_min_working_days=extension_min_working_days)
    refusal = check_body(spec, hazard, actor, body, ctx)
    if refusal:
        _raise(refusal)

    changes = spec.changes(hazard, body, actor, ctx)
    extra: dict[str, Any] = {}
    if action == "register":
        ent = _enterprise_by_uscc(session, body.enterprise_uscc, "enterprise_uscc")  # type: ignore[attr-defined]
        changes["enterprise_id"] = ent.id
        repeat = _earlier_hazard(session, hazard, ent.id, body.category)  # type: ignore[attr-defined]
        if repeat is not None:
            changes["repeat_of_id"] = repeat
    if changes.get("listing_level") and changes["listing_level"] != hazard.listing_level:
        # Listed or elevated: the listing body is the committee office of that level's region.
        changes["listing_body"] = _listing_body(session, hazard.region_code, changes["listing_level"])
        if action == "escalate":
            extra["listing_level"] = changes["listing_level"]
    evidence_ids = list(getattr(body, "evidence", []) or [])
    attachments = _check_attachments(session, hazard, evidence_ids, "evidence")
    report_id = getattr(body, "assessment_report", None)
    if report_id is not None:
        attachments += _check_attachments(session, hazard, [report_id], "assessment_report")

    target = spec.target(hazard, body)
    seq = hazard.version + 1
    payload: dict[str, Any] = {"body": body.model_dump(mode="json"), "changes": _json_changes(changes)}
    if attachments:
        payload["attachments"] = attachments
    event = audit.build_event(
        hazard_id=hazard.id, seq=seq, prev_hash=hazard.audit_head, action=action,
        actor_id=actor.id, actor_role=actor.role, actor_name=actor.display_name,
        from_state=hazard.state, to_state=target, payload=payload, occurred_at=now,
    )
    values = {**changes, "state": target.value, "version": seq, "audit_head": event["hash"], "updated_at": now}
    result = session.execute(_CAS_UPDATE, {**values, "cas_id": hazard.id, "cas_version": hazard.version})
    if result.rowcount != 1:
        raise Conflict("该隐患刚被他人处理，请刷新后重试", code="concurrent_update")
    event_id = audit.insert_event(session, event)
    for key, value in values.items():
        set_committed_value(hazard, key, value)
    _write_effects(session, hazard, spec, seq, event_id, now, extra)
    return hazard


def _listing_body(session: Session, region_code: str, level: str) -> str:
    code = regions.ancestor_code(region_code, level)
    region = session.get(Region, code)
    return f"{region.name if region else code}安全生产委员会办公室"


def _earlier_hazard(session: Session, hazard: Hazard, enterprise_id: int, category: str | None) -> int | None:
    """屡查屡犯: an earlier registered hazard of the same enterprise and industry (and category,
    when given) discovered within the 12 months before this one."""
    q = select(Hazard.id).where(
        Hazard.enterprise_id == enterprise_id,
        Hazard.industry == hazard.industry,
        Hazard.id != hazard.id,
        Hazard.discovered_at >= hazard.discovered_at - timedelta(days=365),
        Hazard.discovered_at < hazard.discovered_at,  # earlier, not one found after this one
        Hazard.state.not_in([State.REPORTED.value, State.DISMISSED.value]),
    )
    if category:
        q = q.where(Hazard.category == category)
    return session.execute(q.order_by(Hazard.discovered_at.desc()).limit(1)).scalar_one_or_none()

