"""Reading hazards: one hazard as the caller may see it, lists with filters and keyset pagination,
and a hazard's audit trail."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from db.models import AuditEvent, Enterprise, Hazard, User
from services.accounts.auth import Principal, scope_clause
from services.blacklist import status as blacklist
from services.kernel.clock import local_date
from services.kernel.errors import Invalid
from services.kernel.inputs import MAX_ID
from services.lifecycle.states import STATE_LABELS, State
from services.lifecycle.table import allowed_actions
from services.engine.transitions import load_in_scope
from services.kernel.vocab import LEVELS, SOURCES
from services.reads.filters import HazardFilter, is_overdue
from services.reads.models import (EnterpriseRef, EventActor, EventOut, HazardOut, HazardPage, Listing,
                                   PendingExtension, Plan)

_PLAN_FIELDS = ("responsible_person", "measures", "funds_wan", "time_limit", "contingency_plan")


def _d(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def view(hazard: Hazard, principal: Principal, *, today: date, enterprise: Enterprise | None = None,
         listed: bool | None = None) -> HazardOut:
    """The hazard as this caller sees it, with the actions the lifecycle offers them now."""
    state = State(hazard.state)
    plan = None
    if hazard.plan_filed_at is not None:
        fields = {
            "responsible_person": hazard.plan_responsible_person,
            "measures": hazard.plan_measures,
            "funds_wan": None if hazard.plan_funds_wan is None else format(hazard.plan_funds_wan, "f"),
            "time_limit": _d(hazard.plan_time_limit),
            "contingency_plan": hazard.plan_contingency,
        }
        plan = Plan(**fields, filed_at=_d(hazard.plan_filed_at),
                    five_items_complete=all(fields[k] not in (None, "") for k in _PLAN_FIELDS))
    extension = None
    if hazard.extension_requested_at is not None:
        extension = PendingExtension(new_deadline=_d(hazard.extension_new_deadline), reason=hazard.extension_reason,
                                     requested_at=_d(hazard.extension_requested_at))
    listing = None
    if hazard.listing_level:
        listing = Listing(level=hazard.listing_level, body=hazard.listing_body, listed_at=_d(hazard.listed_at),
                          plan_due=_d(hazard.plan_due))
    return HazardOut(
        id=hazard.id,
        code=hazard.code,
        title=hazard.title,
        description=hazard.description,
        location=hazard.location,
        industry=hazard.industry,
        source=hazard.source,
        source_label=SOURCES.get(hazard.source),
        category=hazard.category,
        level=hazard.level,
        level_label=LEVELS.get(hazard.level or ""),
        region_code=hazard.region_code,
        enterprise_id=hazard.enterprise_id,
        enterprise=EnterpriseRef(uscc=enterprise.uscc, name=enterprise.name) if enterprise is not None else None,
        state=state.value,
        state_label=STATE_LABELS[state],
        version=hazard.version,
        escalation_step=hazard.escalation_step,
        suspended=hazard.suspended,
        discovered_at=_d(hazard.discovered_at),
        deadline=_d(hazard.deadline),
        overdue=is_overdue(hazard.deadline, state.value, today),
        listing=listing,
        plan=plan,
        pending_extension=extension,
        extensions_granted=hazard.extensions_granted,
        failed_acceptances=hazard.failed_acceptances,
        accepted_at=_d(hazard.accepted_at),
        closed_at=_d(hazard.closed_at),
        repeat_of=hazard.repeat_of_id,
        created_at=_d(hazard.created_at),
        updated_at=_d(hazard.updated_at),
        allowed_actions=allowed_actions(hazard, principal),
        enterprise_blacklisted=listed if hazard.enterprise_id else None,
    )


def view_loaded(session: Session, hazard: Hazard, principal: Principal, *, now: datetime) -> HazardOut:
    """`view` of a hazard already loaded in `session`, with its enterprise."""
    today = local_date(now)
    enterprise, listed = None, False
    if hazard.enterprise_id:  # one query for the enterprise and whether it was ever on the 黑名单
        enterprise, decided = session.execute(
            select(Enterprise, blacklist.ever_listed(Enterprise.id, today)).where(Enterprise.id == hazard.enterprise_id)
        ).one()
        listed = decided and blacklist.is_listed(session, hazard.enterprise_id, today)
    return view(hazard, principal, today=today, enterprise=enterprise, listed=listed)


def get_view(session: Session, principal: Principal, hazard_id: int, *, now: datetime) -> HazardOut:
    return view_loaded(session, load_in_scope(session, principal, hazard_id), principal, now=now)


def id_by_code(session: Session, code: str) -> int | None:
    """The id of the hazard with this 隐患编号, whoever's it is: ask for its view or trail to check scope."""
    return session.execute(select(Hazard.id).where(Hazard.code == code)).scalar_one_or_none()


def encode_cursor(hazard_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"id": hazard_id}).encode()).decode().rstrip("=")


MAX_CURSOR = 64  # an encoded {"id": <19 digits>} is 38 characters


def decode_cursor(cursor: str) -> int:
    """The id a cursor points below. Anything but what `encode_cursor` makes is refused (422): a
    cursor is short, its JSON is one object with an integer id (no nesting to recurse into, no
    `²`, no thousand-digit number)."""
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        value = data["id"] if isinstance(data, dict) and set(data) == {"id"} else None
        if type(value) is not int or not 0 < value <= MAX_ID:
            raise ValueError(value)
        return value
    except (ValueError, UnicodeError, RecursionError):  # binascii.Error is a ValueError
        raise Invalid("分页游标无效", details=[{"field": "cursor", "message": "分页游标无效，请从第一页重新查询"}]) from None


def list_view(
    session: Session,
    principal: Principal,
    *,
    now: datetime,
    state: list[str] | None = None,
    level: str | None = None,
    region: str | None = None,
    industry: str | None = None,
    enterprise: str | None = None,
    overdue: bool | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
    blacklisted: bool | None = None,
) -> HazardPage:
    """Newest first, keyset-paginated on the id: a page costs the same however deep it is."""
    today = local_date(now)
    conditions = HazardFilter(state=tuple(state or ()), level=level, region=region, industry=industry,
                              enterprise=enterprise, overdue=overdue, q=q, blacklisted=blacklisted,
                              ).with_listed(session, today).conditions(principal, today)
    if cursor:
        conditions.append(Hazard.id < decode_cursor(cursor))
    rows = session.execute(
        select(Hazard, Enterprise)
        .outerjoin(Enterprise, Enterprise.id == Hazard.enterprise_id)
        .where(*conditions)
        .order_by(Hazard.id.desc())
        .limit(limit + 1)
    ).all()
    listed = blacklist.listed_ids(session, today, [h.enterprise_id for h, _ in rows[:limit] if h.enterprise_id])
    items = [view(h, principal, today=today, enterprise=e, listed=h.enterprise_id in listed) for h, e in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1][0].id) if len(rows) > limit else None
    return HazardPage(items=items, next_cursor=next_cursor, limit=limit)


def _payload_for(principal: Principal, payload: str) -> dict[str, Any]:
    """举报人信息保密: the reported enterprise never sees a public reporter's contact details."""
    data = json.loads(payload)
    if principal.role == "enterprise" and "public" in data:
        data["public"] = "（举报人信息已隐去）"
    return data


def events_view(session: Session, principal: Principal, hazard_id: int) -> list[EventOut]:
    load_in_scope(session, principal, hazard_id)
    events = session.execute(
        select(AuditEvent).where(AuditEvent.hazard_id == hazard_id).order_by(AuditEvent.seq)
    ).scalars()
    return [
        EventOut(
            id=e.id,
            seq=e.seq,
            action=e.action,
            actor=EventActor(id=e.actor_id, role=e.actor_role, name=e.actor_name),
            from_state=e.from_state,
            to_state=e.to_state,
            payload=_payload_for(principal, e.payload),
            occurred_at=_d(e.occurred_at),
            prev_hash=e.prev_hash,
            hash=e.hash,
        )
        for e in events
    ]


RECENT_LIMIT = 50


def recent_events(session: Session, principal: Principal, *, actor: str = "", action: str = "",
                  limit: int = RECENT_LIMIT) -> list[dict[str, Any]]:
    """The newest audit events of the hazards in scope, newest first: who did what lately, for an
    auditor. `actor` matches the name or the username of whoever acted (part of it will do),
    `action` is one lifecycle action."""
    query = (select(AuditEvent.id, AuditEvent.hazard_id, Hazard.code, Hazard.title, AuditEvent.seq, AuditEvent.action,
                    AuditEvent.actor_role, AuditEvent.actor_name, User.username, AuditEvent.from_state,
                    AuditEvent.to_state, AuditEvent.occurred_at)
             .join(Hazard, Hazard.id == AuditEvent.hazard_id)
             .outerjoin(User, User.id == AuditEvent.actor_id)
             .where(scope_clause(principal)).order_by(AuditEvent.id.desc()).limit(limit))
    if actor:
        query = query.where(or_(AuditEvent.actor_name.contains(actor, autoescape=True),
                                User.username.contains(actor, autoescape=True)))
    if action:
        query = query.where(AuditEvent.action == action)
    return [dict(row._mapping) for row in session.execute(query)]
