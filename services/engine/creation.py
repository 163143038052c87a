"""Starting a hazard: `report` (待核查, DESIGN 2.2) and `import` (a running hazard moved in from an
office's ledger), each with the first event of its hash chain.

Inside the caller's transaction, like every action (`services.engine.transitions`): the table
decides (`check_pre` for the role, then the body and the body guards declared on the action: the
reporter's region and industry, an import's dates against today); what needs the database (the
region exists, the enterprise exists, is active and may take the hazard) is checked here. Then the
hazard's code is allocated, the row inserted, and the event and outbox rows appended. Nothing
here commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.orm import Session, make_transient_to_detached

from db.counters import YearlyCounter
from db.models import Enterprise, Hazard, HazardSequence, Region
from services.accounts.auth import Principal
from services.audit import chain as audit
from services.engine.lookups import (
    DISABLED_ENTERPRISE,
    check_enterprise_region,
    earlier_hazard,
    enterprise_by_uscc,
    listing_body,
)
from services.engine.transitions import context, insert_outbox, json_changes, outbox_rows, refuse
from services.escalation.ladder import Step
from services.kernel import regions
from services.kernel.clock import SHANGHAI, local_date
from services.kernel.errors import invalid_field
from services.kernel.validation import parse
from services.lifecycle.bodies import ReportBody
from services.lifecycle.changes import plan_columns
from services.lifecycle.roles import Role
from services.lifecycle.states import State
from services.lifecycle.table import LIFECYCLE, ActionSpec, check_body, check_pre

TRACKING_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
EARLIEST_DISCOVERY = timedelta(days=5 * 366)  # a 发现日期 further back is taken for a typing error

_HAZARDS = Hazard.__table__
_INSERT_HAZARD = insert(_HAZARDS).returning(_HAZARDS.c.id)
_SET_AUDIT_HEAD = update(_HAZARDS).where(_HAZARDS.c.id == bindparam("hid")).values(audit_head=bindparam("head"))
# A new hazard: every column but the id, with the values a report does not set.
_NEW_HAZARD: dict[str, Any] = {
    **{c.name: None for c in _HAZARDS.columns if c.name != "id"},
    "audit_head": "", "suspended": False, "extensions_granted": 0, "failed_acceptances": 0, "escalation_fired": 0,
}
_CODES = YearlyCounter(HazardSequence.__table__, "region_code")


def next_hazard_code(session: Session, region_code: str, year: int) -> str:
    """`<county>-<year>-<seq>`; the counter row is created on first use and bumped atomically."""
    county = regions.county_of(region_code)
    value = _CODES.next(session, county, year)
    return f"{county}-{year}-{value:06d}"


def _tracking_code() -> str:
    return "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(12))


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), SHANGHAI).astimezone(timezone.utc)


def _discovered_at(day: date | None, now: datetime) -> datetime:
    """The moment a hazard counts as found: now, or the start of an earlier 发现日期 in Shanghai."""
    today = local_date(now)
    if day is None or day == today:
        return now
    if day > today:
        raise invalid_field("discovered_on", "发现日期不能晚于今天")
    if day < today - EARLIEST_DISCOVERY:
        raise invalid_field("discovered_on", "发现日期不能早于五年前")
    return _local_midnight(day)


def _known_region(session: Session, region_code: str) -> None:
    if session.get(Region, region_code) is None:
        raise invalid_field("region_code", "未知的行政区划代码")


def _insert_hazard(session: Session, spec: ActionSpec, actor: Principal, values: dict[str, Any],
                   payload: dict[str, Any], now: datetime) -> Hazard:
    """Write the new row, its first event (seq 1, chained from the code's genesis hash) and the
    action's outbox rows; hand the session the object as loaded, rather than a unit-of-work
    flush per statement (bench/RESULTS.md)."""
    conn = session.connection()
    hazard_id = conn.execute(_INSERT_HAZARD, values).scalar_one()
    event = audit.build_event(
        hazard_id=hazard_id, seq=1, prev_hash=audit.genesis_hash(values["code"]), action=spec.action,
        actor_id=actor.id, actor_role=actor.role, actor_name=actor.display_name, from_state=None,
        to_state=State(values["state"]), payload=payload, occurred_at=now,
    )
    conn.execute(_SET_AUDIT_HEAD, {"head": event["hash"], "hid": hazard_id})
    hazard = Hazard(**{**values, "id": hazard_id, "audit_head": event["hash"]})
    make_transient_to_detached(hazard)
    session.add(hazard)
    event_id = audit.insert_event(session, event)
    insert_outbox(session, outbox_rows(hazard, spec, 1, now), event_id)
    return hazard


def _reported_enterprise(session: Session, actor: Principal, body: ReportBody) -> int | None:
    """The enterprise a report names: an enterprise user's own (active, and no other one named);
    an official's or the public's, the one its 统一社会信用代码 names, if any."""
    if actor.role != Role.ENTERPRISE:
        return enterprise_by_uscc(session, body.enterprise_uscc, "enterprise_uscc").id if body.enterprise_uscc else None
    own = session.get(Enterprise, actor.enterprise_id) if actor.enterprise_id else None
    if own is not None and not own.active:
        raise invalid_field("enterprise_uscc", DISABLED_ENTERPRISE.format(name=own.name))
    if body.enterprise_uscc:
        ent = enterprise_by_uscc(session, body.enterprise_uscc, "enterprise_uscc")
        if ent.id != actor.enterprise_id:
            raise invalid_field("enterprise_uscc", "企业用户只能报告本企业的隐患")
    return actor.enterprise_id


def report(session: Session, actor: Principal, data: Any, *, now: datetime,
           public_contact: dict[str, Any] | None = None) -> Hazard:
    """Create a hazard in `reported` with its first audit event."""
    spec = LIFECYCLE["report"]
    refuse(check_pre(spec, None, actor))
    body = data if isinstance(data, ReportBody) else parse(spec.body, data)
    _known_region(session, body.region_code)
    refuse(check_body(spec, None, actor, body, context(now)))
    enterprise_id = _reported_enterprise(session, actor, body)
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
    payload: dict[str, Any] = {"body": body.model_dump(mode="json")}
    if public_contact:
        payload["public"] = public_contact
    return _insert_hazard(session, spec, actor, values, payload, now)


@dataclass
class _Facts:
    """What `earlier_hazard` reads of a hazard not written yet."""

    id: int
    industry: str
    discovered_at: datetime


def import_hazard(session: Session, actor: Principal, data: Any, *, now: datetime) -> Hazard:
    """Create a hazard directly in a running state (挂牌督办, 整改中, 待验收) from a row of an office's
    ledger: the `import` action. Like `report` it starts a chain, with one event (seq 1) whose body
    names the source row and whose `changes` are every column written, so the trail shows where
    the history began and replays to the row like any other. Scope is the reporter's (the
    importer's region and industry); the enterprise must exist, be active and belong to the
    hazard's region or the importer's. A deadline already past is allowed (a running ledger has
    overdue hazards): the body's `ladder_past` marks the ladder steps the office handled before."""
    spec = LIFECYCLE["import"]
    refuse(check_pre(spec, None, actor))
    body = parse(spec.body, data)
    _known_region(session, body.region_code)
    ctx = context(now)
    refuse(check_body(spec, None, actor, body, ctx))
    ent = enterprise_by_uscc(session, body.enterprise_uscc, "enterprise_uscc")
    check_enterprise_region(ent, body, actor)
    discovered_at = _discovered_at(body.discovered_on, now)
    repeat = earlier_hazard(session, _Facts(id=0, industry=body.industry, discovered_at=discovered_at),
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
        "listing_body": listing_body(session, body.region_code, body.listing_level) if body.listing_level else None,
        "listed_at": _local_midnight(body.listed_on) if body.listed_on else None,
        "plan_due": body.plan_due, "suspended": body.suspend_production,
        **plan_columns(body),
        "plan_filed_at": (_local_midnight(body.plan_filed_on) if body.plan_filed_on else now) if plan else None,
        "acceptance_requested_at": (_local_midnight(body.acceptance_requested_on)
                                    if body.acceptance_requested_on else None),
        "funds_spent_wan": body.funds_spent_wan, "escalation_fired": fired,
    }
    target = spec.target(None, body)  # type: ignore[arg-type]
    values: dict[str, Any] = {
        **_NEW_HAZARD, **changes, "code": next_hazard_code(session, body.region_code, ctx.today.year),
        "state": target.value, "version": 1,
        "discovered_at": discovered_at, "reported_by_id": actor.id, "created_at": now, "updated_at": now,
    }
    payload = {"body": body.model_dump(mode="json"), "changes": json_changes(changes)}
    return _insert_hazard(session, spec, actor, values, payload, now)
