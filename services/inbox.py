"""A user's inbox (`GET /me/inbox`): to-dos computed live from the hazards, and stored messages.

To-dos are not stored: what waits for a person is a fact of the hazards in their scope now, so it
can never go stale. Each role has the states (and facts) where the next step is theirs; the
lifecycle then confirms it (`allowed_actions`: listing level, four-eyes), so a to-do only offers
what the person may really do. Overdue first, then by deadline.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from db.models import Hazard, InboxItem
from services.auth import Principal, scope_clause
from services.calendar import default_calendar
from services.clock import local_date
from services.errors import NotFound
from services.escalation import LadderConfig
from services.hazards import decode_cursor, encode_cursor
from services.lifecycle import FINAL_STATES, STATE_LABELS, LIFECYCLE, Role, State, allowed_actions

S = State
WORKING = (S.REGISTERED.value, S.SUPERVISED.value, S.RECTIFYING.value)
OPEN = [s.value for s in State if s not in FINAL_STATES]
_PENDING_EXTENSION = and_(Hazard.extension_requested_at.is_not(None), Hazard.state.in_(WORKING))
_OFFICIAL_WORK = [
    (Hazard.state == S.REPORTED.value, ("register", "dismiss")),
    (Hazard.state == S.ACCEPTANCE_REQUESTED.value, ("accept", "reject")),
]
# role -> [(which hazards, the actions they wait for)]
TODOS: dict[str, list[tuple[Any, tuple[str, ...]]]] = {
    Role.ENTERPRISE: [
        (and_(Hazard.state.in_((S.REGISTERED.value, S.SUPERVISED.value)), Hazard.plan_filed_at.is_(None)),
         ("file_plan", "request_acceptance")),
        (Hazard.state == S.RECTIFYING.value, ("request_acceptance", "report_progress")),
    ],
    Role.INSPECTOR: _OFFICIAL_WORK,
    Role.SUPERVISOR: [
        *_OFFICIAL_WORK,
        (and_(_PENDING_EXTENSION, Hazard.level == "general"), ("grant_extension", "deny_extension")),
    ],
    Role.COMMITTEE: [
        (and_(Hazard.state == S.REGISTERED.value, Hazard.level == "major", Hazard.listing_level.is_(None)),
         ("supervise",)),
        (Hazard.state == S.ACCEPTED.value, ("close",)),
        (and_(_PENDING_EXTENSION, Hazard.level == "major"), ("grant_extension", "deny_extension")),
    ],
}
PAGE = 200


def _overdue(hazard: Hazard, today: date) -> bool:
    return hazard.deadline is not None and hazard.state in OPEN and hazard.deadline < today


def todos(session: Session, principal: Principal, *, now: datetime, limit: int = 100,
          ladder: LadderConfig | None = None) -> list[dict[str, Any]]:
    """Up to `limit` to-dos. `due_soon`: the deadline is as near as the ladder's reminder."""
    work = TODOS.get(principal.role)
    if not work:
        return []
    # The lifecycle gates every action by state, so the union of the role's actions, filtered by
    # what is allowed on each hazard, is exactly what that hazard waits for.
    waiting = list(dict.fromkeys(a for _, actions in work for a in actions))
    today = local_date(now)
    soon = default_calendar().latest_start(today, (ladder or LadderConfig()).remind)
    overdue_first = case((and_(Hazard.deadline < today, Hazard.state.in_(OPEN)), 0), else_=1)
    query = (select(Hazard).where(scope_clause(principal), or_(*[cond for cond, _ in work]))
             .order_by(overdue_first, Hazard.deadline.asc().nulls_last(), Hazard.id))
    out: list[dict[str, Any]] = []
    offset = 0
    while len(out) < limit:
        page = session.execute(query.offset(offset).limit(PAGE)).scalars().all()
        for hazard in page:
            allowed = set(allowed_actions(hazard, principal))
            actions = [a for a in waiting if a in allowed]
            if actions and len(out) < limit:
                out.append(_todo(hazard, actions, today, soon))
        if len(page) < PAGE:
            break
        offset += PAGE
    return out


def _todo(hazard: Hazard, actions: list[str], today: date, soon: date) -> dict[str, Any]:
    overdue = _overdue(hazard, today)
    return {
        "hazard_id": hazard.id, "code": hazard.code, "title": hazard.title, "state": hazard.state,
        "state_label": STATE_LABELS[State(hazard.state)], "level": hazard.level,
        "actions": actions, "action_labels": [LIFECYCLE[a].label for a in actions],
        "deadline": hazard.deadline.isoformat() if hazard.deadline else None, "overdue": overdue,
        "due_soon": not overdue and hazard.deadline is not None and hazard.deadline <= soon,
    }


def _message(item: InboxItem) -> dict[str, Any]:
    return {"id": item.id, "hazard_id": item.hazard_id, "kind": item.kind, "title": item.title, "body": item.body,
            "created_at": item.created_at.isoformat(), "read_at": item.read_at.isoformat() if item.read_at else None,
            "read": item.read_at is not None}


def view(session: Session, principal: Principal, *, now: datetime, cursor: str | None = None, limit: int = 50,
         ladder: LadderConfig | None = None) -> dict[str, Any]:
    """The caller's to-dos and one page of messages, newest first (keyset on the id)."""
    conditions = [InboxItem.user_id == principal.id]
    if cursor:
        conditions.append(InboxItem.id < decode_cursor(cursor))
    rows = session.execute(select(InboxItem).where(*conditions).order_by(InboxItem.id.desc()).limit(limit + 1)
                           ).scalars().all()
    unread = session.execute(select(func.count()).select_from(InboxItem).where(
        InboxItem.user_id == principal.id, InboxItem.read_at.is_(None))).scalar_one()
    return {
        "todos": todos(session, principal, now=now, ladder=ladder) if not cursor else [],
        "messages": [_message(i) for i in rows[:limit]],
        "next_cursor": encode_cursor(rows[limit - 1].id) if len(rows) > limit else None,
        "unread": unread,
    }


def mark_read(session: Session, principal: Principal, item_id: int, *, now: datetime) -> dict[str, Any]:
    """Idempotent; another user's message answers 404 like a missing one."""
    item = session.get(InboxItem, item_id) if 0 < item_id < 2**63 else None
    if item is None or item.user_id != principal.id:
        raise NotFound("消息不存在")
    if item.read_at is None:
        item.read_at = now
        session.flush()
    return _message(item)
