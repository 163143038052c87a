"""A user's inbox (`GET /me/inbox`): to-dos computed live from the hazards, and stored messages.

To-dos are not stored: what waits for a person is a fact of the hazards in their scope now, so it
can never go stale. Each role has the states (and facts) where the next step is theirs; the
lifecycle then confirms it (`allowed_actions`: listing level, four-eyes), so a to-do only offers
what the person may really do. Each to-do is dated by when *this* step is due (`_due`): the
registration or review period for officials, the plan or the deadline for the enterprise.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from db.models import Hazard, InboxItem, PlanTask, TaskAssignment, TaskPlan
from services.accounts.auth import Principal, scope_clause
from services.calendar.workdays import WorkCalendar, default_calendar
from services.kernel.clock import SHANGHAI, local_date
from services.kernel.errors import NotFound
from services.escalation.ladder import LadderConfig
from services.escalation.sweep import REGISTERED_AT
from services.reads.hazards import decode_cursor, encode_cursor
from services.reads.models import InboxOut, MessageOut, TaskTodoOut, TodoOut
from services.lifecycle.roles import Role
from services.lifecycle.states import STATE_LABELS, State
from services.lifecycle.table import LIFECYCLE, allowed_actions
from services.tasks.lifecycle import OFFICIALS as TASK_OFFICIALS, TASK_LIFECYCLE
from services.tasks.states import TASK_STATE_LABELS, WORKING as TASK_WORKING, TaskState

S = State
WORKING = (S.REGISTERED.value, S.SUPERVISED.value, S.RECTIFYING.value)
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


def step_due(hazard: Hazard, role: str, ladder: LadderConfig, calendar: WorkCalendar,
             registered_at: datetime | None = None) -> tuple[date | None, str]:
    """By when this person's step is due, and what that date is: a report is to be registered
    within the ladder's `unregistered_remind` working days, a registered major hazard listed
    (挂牌督办) within `unlisted_escalate` of its registration (`registered_at`), an acceptance
    request reviewed within `review_overdue`; an enterprise owes a listed hazard's plan by its
    方案报送期限; otherwise the rectification deadline is the date that matters (extensions are
    decided before it)."""
    if registered_at is not None and _awaits_listing(hazard):
        return calendar.add_working_days(local_date(registered_at), ladder.unlisted_escalate), "挂牌期限"
    if hazard.state == S.REPORTED.value:
        return calendar.add_working_days(local_date(hazard.created_at), ladder.unregistered_remind), "登记期限"
    if hazard.state == S.ACCEPTANCE_REQUESTED.value and hazard.acceptance_requested_at is not None:
        return calendar.add_working_days(local_date(hazard.acceptance_requested_at), ladder.review_overdue), "验收审查期限"
    if role == Role.ENTERPRISE and hazard.plan_filed_at is None and hazard.plan_due is not None:
        return hazard.plan_due, "方案报送期限"
    return hazard.deadline, "整改期限"


def _awaits_listing(hazard: Hazard) -> bool:
    return hazard.state == S.REGISTERED.value and hazard.level == "major" and hazard.listing_level is None


def registered_at(session: Session, hazards: list[Hazard]) -> dict[int, datetime]:
    """When each of these major hazards waiting for their listing was registered (the sweep's own
    definition, `REGISTERED_AT`, so the 挂牌期限 shown is the day its ladder step counts from)."""
    ids = [h.id for h in hazards if _awaits_listing(h)]
    if not ids:
        return {}
    return dict(session.execute(select(Hazard.id, REGISTERED_AT).where(Hazard.id.in_(ids))).all())


def todos(session: Session, principal: Principal, *, now: datetime, limit: int = 100,
          ladder: LadderConfig | None = None) -> list[TodoOut]:
    """Up to `limit` to-dos, overdue first, then by when each is due (`_due`); `due_soon`: due
    within the ladder's reminder offset. Every candidate in scope is read, as the due dates are
    working-day sums; it is one person's open work, not the whole table."""
    ladder = ladder or LadderConfig()
    calendar = default_calendar()
    today = local_date(now)
    soon = calendar.latest_start(today, ladder.remind)
    work = TODOS.get(principal.role)
    if not work:
        return []
    # The lifecycle gates every action by state, so the union of the role's actions, filtered by
    # what is allowed on each hazard, is exactly what that hazard waits for.
    waiting = list(dict.fromkeys(a for _, actions in work for a in actions))
    query = select(Hazard).where(scope_clause(principal), or_(*[cond for cond, _ in work])).order_by(Hazard.id)
    out: list[TodoOut] = []
    after = 0
    while True:
        page = session.execute(query.where(Hazard.id > after).limit(PAGE)).scalars().all()
        registered = registered_at(session, page) if principal.role == Role.COMMITTEE else {}
        for hazard in page:
            allowed = set(allowed_actions(hazard, principal))
            actions = [a for a in waiting if a in allowed]
            if actions:
                due, due_label = step_due(hazard, principal.role, ladder, calendar, registered.get(hazard.id))
                out.append(_todo(hazard, actions, today, soon, due, due_label))
        if len(page) < PAGE:
            break
        after = page[-1].id
    out.sort(key=lambda t: (not t.overdue, t.due or "9999-12-31", t.hazard_id))
    return out[:limit]


def _todo(hazard: Hazard, actions: list[str], today: date, soon: date, due: date | None,
          due_label: str) -> TodoOut:
    overdue = due is not None and due < today
    return TodoOut(
        hazard_id=hazard.id, code=hazard.code, title=hazard.title, state=hazard.state,
        state_label=STATE_LABELS[State(hazard.state)], level=hazard.level,
        actions=actions, action_labels=[LIFECYCLE[a].label for a in actions],
        deadline=hazard.deadline.isoformat() if hazard.deadline else None,
        due=due.isoformat() if due else None, due_label=due_label, overdue=overdue,
        due_soon=not overdue and due is not None and due <= soon,
    )


# --- units' parts of published tasks (issue 14) ----------------------------------------------------

T = TaskAssignment.__table__
_UNIT_WAITS = ("acknowledge", "report_progress", "report_completion")
_OFFICE_WAITS = ("verify", "return", "grant_extension", "deny_extension")
_TASK_WORKING = tuple(s.value for s in TASK_WORKING)


def _month_end(today: date) -> date:
    return (today.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def task_todos(session: Session, principal: Principal, *, now: datetime, limit: int = 100,
               ladder: LadderConfig | None = None) -> list[TaskTodoOut]:
    """The task parts waiting on this person. A unit's user: its organisation's parts to sign
    (签收), to report on and complete; a year-long part without a progress report this month is
    due at the month's end (月度进展). The issuing office (a 安委办 user of the plan's region): parts
    reported complete, to check within the ladder's review period (核查期限, as a hazard's
    acceptance review), and pending extension requests (decided before the deadline). As for
    hazards, the lifecycle confirms each (`allowed_actions`: four-eyes, roles). Read in pages of
    `PAGE` parts, one query each; overdue first, then by when each is due."""
    ladder = ladder or LadderConfig()
    calendar = default_calendar()
    today = local_date(now)
    soon = calendar.latest_start(today, ladder.remind)
    mine = []
    if principal.organisation_id is not None and principal.role in TASK_OFFICIALS:
        mine.append(and_(T.c.org_id == principal.organisation_id, T.c.state.in_(_TASK_WORKING)))
    if principal.role == Role.COMMITTEE:
        mine.append(and_(T.c.issuer_region_code == principal.region_code, or_(
            T.c.state == TaskState.REPORTED.value,
            and_(T.c.extension_requested_at.is_not(None), T.c.state.in_(_TASK_WORKING)))))
    if not mine:
        return []
    month_start = datetime.combine(today.replace(day=1), datetime.min.time(), tzinfo=SHANGHAI)
    query = (select(TaskAssignment, PlanTask.number, PlanTask.title, TaskPlan.title)
             .join(PlanTask, PlanTask.id == TaskAssignment.task_id).join(TaskPlan, TaskPlan.id == TaskAssignment.plan_id)
             .where(or_(*mine)).order_by(TaskAssignment.id))
    out: list[TaskTodoOut] = []
    after = 0
    while True:
        page = session.execute(query.where(TaskAssignment.id > after).limit(PAGE)).all()
        for part, number, title, plan_title in page:
            allowed = set(allowed_actions(part, principal, TASK_LIFECYCLE, TASK_STATE_LABELS))
            waits = ("acknowledge",) if part.state == TaskState.ASSIGNED.value else _UNIT_WAITS[1:]
            unit = [a for a in waits if a in allowed and part.org_id == principal.organisation_id]
            office = [a for a in _OFFICE_WAITS if a in allowed]
            actions = unit + office
            if not actions:
                continue
            if office and part.state == TaskState.REPORTED.value and part.completion_reported_at is not None:
                due, label = calendar.add_working_days(local_date(part.completion_reported_at),
                                                       ladder.review_overdue), "核查期限"
            elif (unit and part.year_long and part.state in _TASK_WORKING
                  and (part.last_progress_at is None or part.last_progress_at < month_start)):
                due, label = min(_month_end(today), part.deadline), "月度进展报送期限"
            else:
                due, label = part.deadline, "完成时限"
            overdue = due < today
            out.append(TaskTodoOut(
                code=f"任务{number}", title=title, state=part.state,
                state_label=TASK_STATE_LABELS[TaskState(part.state)], actions=actions,
                action_labels=[TASK_LIFECYCLE[a].label for a in actions], deadline=part.deadline.isoformat(),
                due=due.isoformat(), due_label=label, overdue=overdue, due_soon=not overdue and due <= soon,
                assignment_id=part.id, task_id=part.task_id, plan_id=part.plan_id,
                plan_title=plan_title, unit_name=part.unit_name,
            ))
        if len(page) < PAGE:
            break
        after = page[-1][0].id
    out.sort(key=lambda t: (not t.overdue, t.due, t.assignment_id))
    return out[:limit]


def _message(item: InboxItem) -> MessageOut:
    return MessageOut(id=item.id, hazard_id=item.hazard_id, kind=item.kind, title=item.title, body=item.body,
                      created_at=item.created_at.isoformat(),
                      read_at=item.read_at.isoformat() if item.read_at else None, read=item.read_at is not None)


def view(session: Session, principal: Principal, *, now: datetime, cursor: str | None = None, limit: int = 50,
         ladder: LadderConfig | None = None) -> InboxOut:
    """The caller's to-dos and one page of messages, newest first (keyset on the id)."""
    conditions = [InboxItem.user_id == principal.id]
    if cursor:
        conditions.append(InboxItem.id < decode_cursor(cursor))
    rows = session.execute(select(InboxItem).where(*conditions).order_by(InboxItem.id.desc()).limit(limit + 1)
                           ).scalars().all()
    total, unread = session.execute(select(
        func.count(), func.count().filter(InboxItem.read_at.is_(None)),
    ).select_from(InboxItem).where(InboxItem.user_id == principal.id)).one()
    return InboxOut(
        todos=todos(session, principal, now=now, ladder=ladder) if not cursor else [],
        task_todos=task_todos(session, principal, now=now, ladder=ladder) if not cursor else [],
        messages=[_message(i) for i in rows[:limit]],
        next_cursor=encode_cursor(rows[limit - 1].id) if len(rows) > limit else None,
        unread=unread,
        total=total,
    )


def mark_all_read(session: Session, principal: Principal, *, now: datetime) -> int:
    """Every unread message of the caller marked read now; returns how many (0 the second time)."""
    result = session.execute(update(InboxItem).where(InboxItem.user_id == principal.id, InboxItem.read_at.is_(None))
                             .values(read_at=now))
    return result.rowcount or 0


def mark_read(session: Session, principal: Principal, item_id: int, *, now: datetime) -> MessageOut:
    """Idempotent; another user's message answers 404 like a missing one."""
    item = session.get(InboxItem, item_id) if 0 < item_id < 2**63 else None
    if item is None or item.user_id != principal.id:
        raise NotFound("消息不存在")
    if item.read_at is None:
        item.read_at = now
        session.flush()
    return _message(item)
