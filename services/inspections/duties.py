"""The escalation of missing self-inspection returns, on working days (`window` has the dates):
`remind` (the enterprise's users), `list` (the enterprise is on its inspectors' list of missing
returns, and they are told), `publicize` (an entry on the 通报 list, `missed_return:<id>:<month>`).

Each step of each enterprise and month fires once, through `services.escalation.duties.fire` (a
`duty_steps` row), with its effects in the same transaction: inbox messages written directly (the
outbox's audiences are resolved per hazard, and these messages have none), each with a dedupe key
of the duty, the step and the user; a 通报 entry proposed once per key; and an event on the
return's record chain by `system`. So a sweep that runs twice, or two at once, changes nothing the
second time. Selection is set-based (the active enterprises of no return and no such step yet,
keyset by id), writes are batched per transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import exists, insert, select
from sqlalchemy.orm import Session

from db.engine import UnitOfWork
from db.models import DutyStep, Enterprise, InboxItem, SelfInspection, User
from services.accounts.auth import SYSTEM
from services.audit import records
from services.bulletins import items as bulletins
from services.calendar.workdays import WorkCalendar
from services.escalation.duties import fire
from services.inspections import window
from services.inspections.returns import subject
from services.inspections.window import RULES, ReturnRules
from services.kernel import regions
from services.kernel.clock import SHANGHAI, local_date
from services.lifecycle.roles import Role

STEPS = ("remind", "list", "publicize")


def due_steps(today: date, calendar: WorkCalendar, rules: ReturnRules = RULES) -> list[tuple[str, str]]:
    """(month, step) due today: this month's reminder from its day to the month's end; the
    previous month's listing and 通报 from theirs on (a sweep that missed a day catches up)."""
    current = window.month_of(today)
    previous = window.previous_month(current)
    due = []
    if window.remind_on(current, calendar, rules) <= today:
        due.append((current, "remind"))
    if window.list_on(previous, calendar) <= today:
        due.append((previous, "list"))
    if window.publicize_on(previous, calendar, rules) <= today:
        due.append((previous, "publicize"))
    return due


def _missing(session: Session, month: str, step: str, after: int, limit: int) -> list[Any]:
    """Active enterprises that existed before the month ended, without a return and without this step."""
    end = datetime.combine(window.last_day(month), time.max, SHANGHAI)
    filed = exists().where(SelfInspection.enterprise_id == Enterprise.id, SelfInspection.month == month)
    fired = exists().where(DutyStep.enterprise_id == Enterprise.id, DutyStep.month == month, DutyStep.step == step,
                           DutyStep.subject.startswith("return:"))
    return list(session.execute(
        select(Enterprise.id, Enterprise.name, Enterprise.region_code, Enterprise.industry)
        .where(Enterprise.active.is_(True), Enterprise.created_at <= end, Enterprise.id > after, ~filed, ~fired)
        .order_by(Enterprise.id).limit(limit)).all())


def _enterprise_users(session: Session, ids: Iterable[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for uid, eid in session.execute(select(User.id, User.enterprise_id).where(
            User.enterprise_id.in_(list(ids)), User.role == Role.ENTERPRISE.value, User.active.is_(True))):
        out.setdefault(eid, []).append(uid)
    return out


def _inspectors(session: Session) -> list[Any]:
    return list(session.execute(select(User.id, User.region_code, User.industry).where(
        User.role == Role.INSPECTOR.value, User.active.is_(True))).all())


def _in_scope(inspector: Any, ent: Any) -> bool:
    return (ent.region_code.startswith(regions.scope_prefix(inspector.region_code))
            and (not inspector.industry or inspector.industry == ent.industry))


def _message(step: str, ent: Any, month: str, calendar: WorkCalendar) -> tuple[str, str]:
    if step == "remind":
        last = window.last_working_day(month, calendar)
        return (f"请按时报送 {month} 企业自查报告",
                f"{ent.name}：{month} 的企业自查报告尚未报送，请于 {last.isoformat()} 前由主要负责人签字报送。"
                "逾期未报送的，将列入监管部门的未报送名单，并予以通报。")
    return (f"{ent.name} 未报送 {month} 企业自查报告",
            f"{ent.name} 未按时报送 {month} 的企业自查报告，已列入未报送名单（企业自查 → 未报送），请督促其补报。")


def _fire_batch(session: Session, rows: list[Any], month: str, step: str, *, now: datetime,
                calendar: WorkCalendar, inspectors: list[Any], counts: dict[str, int]) -> None:
    users = _enterprise_users(session, [r.id for r in rows]) if step == "remind" else {}
    inbox: list[dict[str, Any]] = []
    for ent in rows:
        subj = subject(ent.id, month)
        if not fire(session, subject=subj, step=step, region_code=ent.region_code, month=month, now=now,
                    enterprise_id=ent.id):
            continue
        counts[step] += 1
        records.append(session, subject=subj, action=step, actor=SYSTEM, now=now,
                       payload={"step": step, "month": month, "enterprise_id": ent.id})
        if step == "publicize":
            counts["bulletin_items"] += bulletins.propose(
                session, key=f"missed_return:{ent.id}:{month}", region_code=ent.region_code, month=month,
                kind=bulletins.MISSED_RETURN, enterprise_id=ent.id, now=now,
                reason=f"{ent.name} 未按时报送 {month} 企业自查报告")
            continue
        recipients = users.get(ent.id, []) if step == "remind" else [i.id for i in inspectors if _in_scope(i, ent)]
        title, body = _message(step, ent, month, calendar)
        inbox += [{"user_id": uid, "hazard_id": None, "kind": "message", "title": title, "body": body,
                   "dedupe_key": f"duty:{subj}:{step}:{uid}", "created_at": now} for uid in recipients]
    if inbox:
        session.execute(insert(InboxItem), inbox)
        counts["messages"] += len(inbox)


def sweep(uow: UnitOfWork, *, now: datetime, calendar: WorkCalendar, rules: ReturnRules = RULES,
          batch_size: int = 500, as_of: date | None = None) -> dict[str, int]:
    """Fire every step due as of `as_of` (default: today in Asia/Shanghai); events carry `now`.
    Returns how many steps fired per step, and the messages and 通报 entries written."""
    today = as_of or local_date(now)
    counts = {**{s: 0 for s in STEPS}, "messages": 0, "bulletin_items": 0}
    due = due_steps(today, calendar, rules)
    inspectors: list[Any] = []
    if any(step == "list" for _, step in due):
        with uow.read() as session:
            inspectors = _inspectors(session)
    for month, step in due:
        after = 0
        while True:
            with uow.write() as session:
                rows = _missing(session, month, step, after, batch_size)
                if rows:
                    _fire_batch(session, rows, month, step, now=now, calendar=calendar, inspectors=inspectors,
                                counts=counts)
            if len(rows) < batch_size:
                break
            after = rows[-1].id
    return counts

