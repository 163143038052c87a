"""The transaction path of every state change (DESIGN 3).

Inside one transaction, opened and committed by the caller through `db.engine.transaction`:
load the hazard, check scope, then the lifecycle's decision (role, state, guards, body), then
compare-and-set the row on its version, append the hash-chained audit event and the outbox rows.
Nothing here commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from db.models import Attachment, Enterprise, Hazard, HazardSequence, OutboxMessage, Region
from services.audit import chain as audit
from services.kernel import regions
from services.accounts.auth import Principal, in_scope
from services.lifecycle.bodies import ReportBody
from services.kernel.clock import SHANGHAI, local_date
from services.kernel.errors import Conflict, Forbidden, Invalid, NotFound, invalid_field
from services.escalation.ladder import Step
from services.kernel.inputs import MAX_ID
from services.lifecycle.table import LIFECYCLE, ActionSpec, Context, Refusal, Role, State, check_body, check_pre
from services.kernel.validation import parse

TRACKING_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

# Built once: the per-transition statements, their values passed as parameters. Building them per
# call (`.values(**values)` on the ORM entity, `session.get`) cost more CPU than the rest of the
# transition (bench/transitions, bench/RESULTS.md). The compare-and-set's SET clause is the
# parameters that name a column; `cas_id`/`cas_version` are the WHERE.
_HAZARDS = Hazard.__table__
_LOAD_HAZARD = select(Hazard).where(Hazard.id == bindparam("hazard_id")).execution_options(populate_existing=True)
# The writer's load: the row lock makes concurrent actions on one hazard wait for each other
# (PostgreSQL; SQLite writers are serialised by BEGIN IMMEDIATE), so fifty comments at once all
# land instead of losing the compare-and-set. The compare-and-set stays, for the sweep's batches.
_LOAD_HAZARD_FOR_UPDATE = _LOAD_HAZARD.with_for_update()
_CAS_UPDATE = update(_HAZARDS).where(
    _HAZARDS.c.id == bindparam("cas_id"), _HAZARDS.c.version == bindparam("cas_version")
)
_OUTBOX_INSERT = insert(OutboxMessage.__table__)
_INSERT_HAZARD = insert(_HAZARDS).returning(_HAZARDS.c.id)
_SET_AUDIT_HEAD = update(_HAZARDS).where(_HAZARDS.c.id == bindparam("hid")).values(audit_head=bindparam("head"))
# A new hazard: every column but the id, with the values a report does not set.
_NEW_HAZARD: dict[str, Any] = {
    **{c.name: None for c in _HAZARDS.columns if c.name != "id"},
    "audit_head": "", "suspended": False, "extensions_granted": 0, "failed_acceptances": 0, "escalation_fired": 0,
}


def _raise(refusal: Refusal) -> None:
    if refusal.kind in ("role", "forbidden"):
        raise Forbidden(refusal.message, code=refusal.code)
    if refusal.kind in ("state", "conflict"):
        raise Conflict(refusal.message, code=refusal.code)
    raise Invalid(
        "提交的内容有误，请按提示修改。",
        code=refusal.code,
        details=[{"field": r.field or "body", "message": r.message, "type": r.code} for r in (refusal, *refusal.also)],
    )


_BUMP_SEQUENCE = (
    update(HazardSequence.__table__)
    .where(HazardSequence.region_code == bindparam("county"), HazardSequence.year == bindparam("seq_year"))
    .values(last_value=HazardSequence.last_value + 1)
    .returning(HazardSequence.last_value)
)
_CREATE_SEQUENCE = {
    name: dialect.insert(HazardSequence.__table__)
    .values(region_code=bindparam("county"), year=bindparam("seq_year"), last_value=0)
    .on_conflict_do_nothing()
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_ENTERPRISE_BY_USCC = select(Enterprise).where(Enterprise.uscc == bindparam("uscc"))
_ATTACHMENTS = select(Attachment.id, Attachment.sha256, Attachment.filename).where(
    Attachment.id.in_(bindparam("ids", expanding=True)), Attachment.hazard_id == bindparam("hazard_id")
)


def next_hazard_code(session: Session, region_code: str, year: int) -> str:
    """`<county>-<year>-<seq>`; the counter row is created on first use and bumped atomically."""
    county = regions.county_of(region_code)
    conn = session.connection()
    conn.execute(_CREATE_SEQUENCE[conn.dialect.name], {"county": county, "seq_year": year})
    value = conn.execute(_BUMP_SEQUENCE, {"county": county, "seq_year": year}).scalar_one()
    return f"{county}-{year}-{value:06d}"


def _enterprise_by_uscc(session: Session, code: str, field: str) -> Enterprise:
    ent = session.execute(_ENTERPRISE_BY_USCC, {"uscc": code}).scalar_one_or_none()
    if ent is None:
        raise invalid_field(field, "未找到该统一社会信用代码对应的企业，请先登记企业")
    if not ent.active:
        raise invalid_field(field, DISABLED_ENTERPRISE.format(name=ent.name))
    return ent


DISABLED_ENTERPRISE = "{name}已停用，不再登记新的隐患（已有隐患照常办理；如需恢复请联系管理员启用该企业）"


def _json_changes(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: (format(v, "f") if isinstance(v, Decimal) else v) for k, v in changes.items()}


def _outbox_rows(hazard: Any, spec: ActionSpec, seq: int, now: datetime,
                 extra: dict[str, Any] | None = None, body: Any = None) -> list[dict[str, Any]]:
    """One row per effect of the action; `event_id` is added once the event is written
    (`outbox_params`). The dedupe key (kind, hazard, seq) is what delivery uses to deliver each at
    most once."""
    kinds = spec.effects_for(body)
    if not kinds:
        return []
    payload = {"hazard_id": hazard.id, "hazard_code": hazard.code, "action": spec.action, "seq": seq, **(extra or {})}
    return [
        {"hazard_id": hazard.id, "kind": kind, "payload": payload, "dedupe_key": f"{kind}:{hazard.id}:{seq}",
         "status": "pending", "attempts": 0, "available_at": now, "created_at": now}
        for kind in kinds
    ]


def outbox_params(rows: list[dict[str, Any]], event_id: int) -> list[dict[str, Any]]:
    return [{**row, "event_id": event_id, "payload": audit.canonical({**row["payload"], "event_id": event_id})}
            for row in rows]


def _insert_outbox(session: Session, rows: list[dict[str, Any]], event_id: int) -> None:
    if rows:
        session.connection().execute(_OUTBOX_INSERT, outbox_params(rows, event_id))


EARLIEST_DISCOVERY = timedelta(days=5 * 366)  # a 发现日期 further back is taken for a typing error


def _discovered_at(day: date | None, now: datetime) -> datetime:
    """The moment a hazard counts as found: now, or the start of an earlier 发现日期 in Shanghai."""
    today = local_date(now)
    if day is None or day == today:
        return now
    if day > today:
        raise invalid_field("discovered_on", "发现日期不能晚于今天")
    if day < today - EARLIEST_DISCOVERY:
        raise invalid_field("discovered_on", "发现日期不能早于五年前")
    return datetime.combine(day, time(0), SHANGHAI).astimezone(timezone.utc)


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
        own = session.get(Enterprise, actor.enterprise_id) if actor.enterprise_id else None
        if own is not None and not own.active:
            raise invalid_field("enterprise_uscc", DISABLED_ENTERPRISE.format(name=own.name))
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
    discovered_at = _discovered_at(body.discovered_on, now)
    code = next_hazard_code(session, body.region_code, local_date(now).year)
    values: dict[str, Any] = {
        **_NEW_HAZARD,
        "code": code, "title": body.title, "description": body.description, "location": body.location,
        "industry": body.industry, "source": body.source, "region_code": body.region_code,
        "enterprise_id": enterprise_id, "state": State.REPORTED.value, "version": 1,
        "discovered_at": discovered_at, "reported_by_id": actor.id, "created_at": now, "updated_at": now,
        "tracking_code": _tracking_code() if actor.role == Role.PUBLIC else None,
    }
    conn = session.connection()
    hazard_id = conn.execute(_INSERT_HAZARD, values).scalar_one()
    payload: dict[str, Any] = {"body": body.model_dump(mode="json")}
    if public_contact:
        payload["public"] = public_contact
    event = audit.build_event(
        hazard_id=hazard_id, seq=1, prev_hash=audit.genesis_hash(code), action="report",
        actor_id=actor.id, actor_role=actor.role, actor_name=actor.display_name, from_state=None,
        to_state=State.REPORTED, payload=payload, occurred_at=now,
    )
    conn.execute(_SET_AUDIT_HEAD, {"head": event["hash"], "hid": hazard_id})
    # The row is written with every column known: hand the session the object as loaded, rather
    # than a unit-of-work flush per statement (bench/RESULTS.md).
    hazard = Hazard(**{**values, "id": hazard_id, "audit_head": event["hash"]})
    make_transient_to_detached(hazard)
    session.add(hazard)
    event_id = audit.insert_event(session, event)
    _insert_outbox(session, _outbox_rows(hazard, spec, 1, now), event_id)
    return hazard


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), SHANGHAI).astimezone(timezone.utc)


def _import_dates(body: Any, today: date) -> list[dict[str, str]]:
    """What an imported row's dates must satisfy against the import day (the body checked the rest)."""
    problems = []
    for name, label in (("listed_on", "挂牌日期"), ("plan_filed_on", "方案报送日期"),
                        ("acceptance_requested_on", "验收申请日期")):
        day = getattr(body, name)
        if day is not None and day > today:
            problems.append({"field": name, "message": f"{label}不能晚于今天"})
    try:
        limit = today.replace(year=today.year + 1)
    except ValueError:  # 29 February
        limit = today.replace(year=today.year + 1, day=28)
    if body.deadline > limit:
        problems.append({"field": "deadline", "message": "整改期限不能晚于一年之后"})
    return problems


def import_hazard(session: Session, actor: Principal, data: Any, *, now: datetime) -> Hazard:
    """Create a hazard directly in a running state (挂牌督办, 整改中, 待验收) from a row of an office's
    ledger: the `import` action. Like `report` it starts a chain, with one event (seq 1) whose body
    names the source row and whose `changes` are every column written, so the trail shows where
    the history began and replays to the row like any other. Scope is the reporter's (the
    importer's region and industry); the enterprise must exist, be active and belong to the
    hazard's region or the importer's. A deadline already past is allowed (a running ledger has
    overdue hazards): the body's `ladder_past` marks the ladder steps the office handled before."""
    spec = LIFECYCLE["import"]
    if actor.role not in spec.roles:
        raise Forbidden(f"当前角色无权执行“{spec.label}”", code="role")
    body = parse(spec.body, data)
    if session.get(Region, body.region_code) is None:
        raise invalid_field("region_code", "未知的行政区划代码")
    if not regions.within(body.region_code, actor.region_code):
        raise Forbidden("只能导入本辖区内的隐患", code="out_of_scope")
    if actor.industry and body.industry != actor.industry:
        raise Forbidden(f"只能导入分管行业（{actor.industry}）的隐患", code="out_of_scope")
    today = local_date(now)
    problems = _import_dates(body, today)
    if problems:
        raise Invalid("提交的内容有误，请按提示修改。", details=problems)
    ent = _enterprise_by_uscc(session, body.enterprise_uscc, "enterprise_uscc")
    _check_enterprise_region(ent, body, actor)
    discovered_at = _discovered_at(body.discovered_on, now)
    repeat = _earlier_hazard(session, _Facts(id=0, industry=body.industry, discovered_at=discovered_at),
                             ent.id, body.category)
    plan = body.responsible_person is not None
    fired = 0
    for name in body.ladder_past:
        fired |= int(Step[name])
    changes: dict[str, Any] = {
        "title": body.title, "description": body.description, "location": body.location,
        "industry": body.industry, "source": body.source, "region_code": body.region_code,
        "level": body.level, "category": body.category, "deadline": body.deadline, "enterprise_id": ent.id,
        "repeat_of_id": repeat,
        "listing_level": body.listing_level,
        "listing_body": _listing_body(session, body.region_code, body.listing_level) if body.listing_level else None,
        "listed_at": _local_midnight(body.listed_on) if body.listed_on else None,
        "plan_due": body.plan_due, "suspended": body.suspend_production,
        "plan_responsible_person": body.responsible_person, "plan_measures": body.measures,
        "plan_funds_wan": body.funds_wan, "plan_time_limit": body.time_limit,
        "plan_contingency": body.contingency_plan,
        "plan_filed_at": (_local_midnight(body.plan_filed_on) if body.plan_filed_on else now) if plan else None,
        "acceptance_requested_at": (_local_midnight(body.acceptance_requested_on)
                                    if body.acceptance_requested_on else None),
        "funds_spent_wan": body.funds_spent_wan, "escalation_fired": fired,
    }
    target = spec.target(None, body)  # type: ignore[arg-type]
    code = next_hazard_code(session, body.region_code, today.year)
    values: dict[str, Any] = {
        **_NEW_HAZARD, **changes, "code": code, "state": target.value, "version": 1,
        "discovered_at": discovered_at, "reported_by_id": actor.id, "created_at": now, "updated_at": now,
    }
    conn = session.connection()
    hazard_id = conn.execute(_INSERT_HAZARD, values).scalar_one()
    event = audit.build_event(
        hazard_id=hazard_id, seq=1, prev_hash=audit.genesis_hash(code), action="import",
        actor_id=actor.id, actor_role=actor.role, actor_name=actor.display_name, from_state=None,
        to_state=target, payload={"body": body.model_dump(mode="json"), "changes": _json_changes(changes)},
        occurred_at=now,
    )
    conn.execute(_SET_AUDIT_HEAD, {"head": event["hash"], "hid": hazard_id})
    hazard = Hazard(**{**values, "id": hazard_id, "audit_head": event["hash"]})
    make_transient_to_detached(hazard)
    session.add(hazard)
    audit.insert_event(session, event)
    return hazard


@dataclass
class _Facts:
    id: int
    industry: str
    discovered_at: datetime


def _tracking_code() -> str:
    return "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(12))


def load_in_scope(session: Session, actor: Principal, hazard_id: int, *, for_update: bool = False) -> Hazard:
    statement = _LOAD_HAZARD_FOR_UPDATE if for_update else _LOAD_HAZARD
    hazard = (session.execute(statement, {"hazard_id": hazard_id}).scalar_one_or_none()
              if 0 < hazard_id <= MAX_ID else None)
    if hazard is None or not in_scope(actor, hazard):
        raise NotFound("隐患不存在或不在您的管辖范围内")
    return hazard


def _check_attachments(session: Session, hazard: Hazard, ids: list[int], field: str) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = session.connection().execute(
        _ATTACHMENTS, {"ids": [i for i in ids if 0 < i <= MAX_ID], "hazard_id": hazard.id}
    ).all()
    found = {r.id: r for r in rows}
    missing = [i for i in ids if i not in found]
    if missing:
        raise invalid_field(field, f"附件不存在或不属于该隐患：{', '.join(map(str, missing))}")
    return [{"id": i, "sha256": found[i].sha256, "filename": found[i].filename} for i in ids]


@dataclass
class Decision:
    """What one action does to one hazard, decided but not yet written: the compare-and-set's
    values, the event (hash included) and the outbox rows (without their event id)."""

    action: str
    seq: int
    values: dict[str, Any]
    event: dict[str, Any]
    outbox_rows: list[dict[str, Any]]


class Working:
    """A hazard's facts as plain attributes, for deciding several actions on rows read in bulk:
    `apply` folds a decision in, so the next one sees the new version, head and bits."""

    def __init__(self, row: Any):
        self.__dict__.update(row._mapping)

    def apply(self, decision: Decision) -> None:
        self.__dict__.update(decision.values)


def prepare(session: Session, spec: ActionSpec, hazard: Any, actor: Principal, data: Any, *, now: datetime,
            if_match: int | None = None, extension_min_working_days: int = 15) -> Decision:
    """Decide one action against the lifecycle table (role, state, guards, body) and build what it
    writes. Raises the refusal; writes nothing. `hazard` is the ORM row or a `Working`."""
    refusal = check_pre(spec, hazard, actor)
    if refusal:
        _raise(refusal)
    if if_match is not None and if_match != hazard.version:
        raise Conflict("该隐患已被他人更新，请刷新后重试", code="stale_version",
                       details={"expected": if_match, "current": hazard.version})
    body = parse(spec.body, data)
    ctx = Context(today=local_date(now), now=now, extension_min_working_days=extension_min_working_days)
    refusal = check_body(spec, hazard, actor, body, ctx)
    if refusal:
        _raise(refusal)

    changes = spec.changes(hazard, body, actor, ctx)
    if spec.action == "register":
        ent = _enterprise_by_uscc(session, body.enterprise_uscc, "enterprise_uscc")  # type: ignore[attr-defined]
        _check_enterprise_region(ent, hazard, actor)
        changes["enterprise_id"] = ent.id
        repeat = _earlier_hazard(session, hazard, ent.id, body.category)  # type: ignore[attr-defined]
        if repeat is not None:
            changes["repeat_of_id"] = repeat
    if changes.get("listing_level") and changes["listing_level"] != hazard.listing_level:
        # Listed or elevated: the listing body is the committee office of that level's region.
        changes["listing_body"] = _listing_body(session, hazard.region_code, changes["listing_level"])
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
        hazard_id=hazard.id, seq=seq, prev_hash=hazard.audit_head, action=spec.action,
        actor_id=actor.id, actor_role=actor.role, actor_name=actor.display_name,
        from_state=hazard.state, to_state=target, payload=payload, occurred_at=now,
    )
    values = {**changes, "state": target.value, "version": seq, "audit_head": event["hash"], "updated_at": now}
    extra = spec.notice(body, changes, ctx) if spec.notice else None
    return Decision(spec.action, seq, values, event, _outbox_rows(hazard, spec, seq, now, extra, body))


def perform(session: Session, actor: Principal, hazard_id: int, action: str, data: Any, *,
            now: datetime, if_match: int | None = None, extension_min_working_days: int = 15) -> Hazard:
    """Carry out one lifecycle action; returns the hazard as it is after the action."""
    spec = LIFECYCLE.get(action)
    if spec is None or not spec.sources:  # `report` and `import` start a hazard: not an action on one
        raise NotFound(f"没有名为“{action}”的操作", code="unknown_action")
    hazard = load_in_scope(session, actor, hazard_id, for_update=True)
    decision = prepare(session, spec, hazard, actor, data, now=now, if_match=if_match,
                       extension_min_working_days=extension_min_working_days)
    result = session.connection().execute(
        _CAS_UPDATE, {**decision.values, "cas_id": hazard.id, "cas_version": hazard.version}
    )
    if result.rowcount != 1:
        raise Conflict("该隐患刚被他人处理，请刷新后重试", code="concurrent_update")
    event_id = audit.insert_event(session, decision.event)
    for key, value in decision.values.items():
        set_committed_value(hazard, key, value)
    _insert_outbox(session, decision.outbox_rows, event_id)
    return hazard


def _check_enterprise_region(ent: Enterprise, hazard: Any, actor: Principal) -> None:
    """A hazard is registered to an enterprise of its own region (the enterprise's county holds
    the hazard's place, or the other way round), or else to one the registering official
    supervises too: a county inspector cannot hang a hazard on another county's enterprise."""
    if (regions.within(ent.region_code, hazard.region_code) or regions.within(hazard.region_code, ent.region_code)
            or actor.role == Role.SYSTEM or regions.within(ent.region_code, actor.region_code)):
        return
    raise invalid_field("enterprise_uscc", "该企业不在隐患所在辖区，也不在您的管辖范围内，不能登记为该隐患的责任企业")


def _listing_body(session: Session, region_code: str, level: str) -> str:
    # Kept per session: the identity map holds a Region only while something references it, so a
    # sweep batch elevating dozens of hazards to one city would otherwise read that city each time.
    names = session.info.setdefault("listing_region_names", {})
    code = regions.ancestor_code(region_code, level)
    if code not in names:
        region = session.get(Region, code)
        names[code] = region.name if region else code
    return f"{names[code]}安全生产委员会办公室"


def _earlier_hazard(session: Session, hazard: Hazard, enterprise_id: int, category: str | None) -> int | None:
    """屡查屡犯: an earlier registered hazard of the same enterprise and industry (and category,
    when given) discovered within the 12 months before this one."""
    params = {"enterprise_id": enterprise_id, "industry": hazard.industry, "hazard_id": hazard.id,
              "since": hazard.discovered_at - timedelta(days=365), "until": hazard.discovered_at,
              "not_states": [State.REPORTED.value, State.DISMISSED.value]}
    if category:
        return session.connection().execute(_EARLIER_IN_CATEGORY, {**params, "category": category}).scalar_one_or_none()
    return session.connection().execute(_EARLIER, params).scalar_one_or_none()


_EARLIER_WHERE = (
    Hazard.enterprise_id == bindparam("enterprise_id"),
    Hazard.industry == bindparam("industry"),
    Hazard.id != bindparam("hazard_id"),
    Hazard.discovered_at >= bindparam("since"),
    Hazard.discovered_at < bindparam("until"),  # earlier, not one found after this one
    Hazard.state.not_in(bindparam("not_states", expanding=True)),
)
_EARLIER = select(Hazard.id).where(*_EARLIER_WHERE).order_by(Hazard.discovered_at.desc()).limit(1)
_EARLIER_IN_CATEGORY = (select(Hazard.id).where(*_EARLIER_WHERE, Hazard.category == bindparam("category"))
                        .order_by(Hazard.discovered_at.desc()).limit(1))
