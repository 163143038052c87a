"""Half-year inspections of listed enterprises: an enterprise on the 黑名单 is inspected at least
every six months. Its last inspection is its latest hazard found by an inspection (监管检查 or
明查暗访), or its listing date when none is later; from 15 working days before six months after it,
the inspectors of its region (and industry, when bound to one) get a reminder.

Each reminder fires once per enterprise and half-year period of the due date (`2027-H1`), through
services/escalation/duties.py `fire` (a `duty_steps` row), and writes inbox messages directly in
the same transaction, each with a dedupe key (the outbox's audiences are resolved per hazard, and
these messages have none): a sweep that runs twice, or two at once, adds nothing the second time.
The listed enterprises are few; selection is three grouped queries, not one query per enterprise.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert, select

from db.engine import UnitOfWork
from db.models import BlacklistDecision, Enterprise, Hazard, InboxItem, User
from services.blacklist.status import LISTED, listed_ids
from services.calendar.workdays import WorkCalendar
from services.escalation.duties import fire
from services.kernel import regions
from services.kernel.clock import local_date
from services.lifecycle.roles import Role

INSPECTION_SOURCES = ("inspection", "covert_inspection")
MONTHS = 6
LEAD_WORKING_DAYS = 15
STEP = "remind"


def months_later(day: date, months: int) -> date:
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def period_of(day: date) -> str:
    return f"{day.year:04d}-H{1 if day.month <= 6 else 2}"


def due(session: Any, *, today: date, calendar: WorkCalendar) -> list[dict[str, Any]]:
    """The listed enterprises whose reminder is due today: id, name, region, industry, last, due."""
    ids = sorted(listed_ids(session, today))
    if not ids:
        return []
    listed_on = dict(session.execute(
        select(BlacklistDecision.enterprise_id, func.max(BlacklistDecision.listed_from))
        .where(BlacklistDecision.enterprise_id.in_(ids), BlacklistDecision.decision == LISTED,
               BlacklistDecision.listed_from <= today)
        .group_by(BlacklistDecision.enterprise_id)).all())
    inspected = dict(session.execute(
        select(Hazard.enterprise_id, func.max(Hazard.discovered_at))
        .where(Hazard.enterprise_id.in_(ids), Hazard.source.in_(INSPECTION_SOURCES))
        .group_by(Hazard.enterprise_id)).all())
    out = []
    for ent in session.execute(select(Enterprise.id, Enterprise.name, Enterprise.region_code, Enterprise.industry)
                               .where(Enterprise.id.in_(ids), Enterprise.active.is_(True)).order_by(Enterprise.id)):
        last = listed_on[ent.id]
        if inspected.get(ent.id) is not None:
            last = max(last, local_date(inspected[ent.id]))
        deadline = months_later(last, MONTHS)
        if calendar.add_working_days(deadline, -LEAD_WORKING_DAYS) <= today:
            out.append({"id": ent.id, "name": ent.name, "region_code": ent.region_code, "industry": ent.industry,
                        "last": last, "due": deadline})
    return out


def sweep(uow: UnitOfWork, *, now: datetime, calendar: WorkCalendar) -> dict[str, int]:
    """Fire the reminders due today (Asia/Shanghai); returns {"remind": steps fired, "messages": n}."""
    today = local_date(now)
    counts = {"remind": 0, "messages": 0}
    with uow.write() as session:
        rows = due(session, today=today, calendar=calendar)
        if not rows:
            return counts
        inspectors = session.execute(select(User.id, User.region_code, User.industry).where(
            User.role == Role.INSPECTOR.value, User.active.is_(True))).all()
        inbox: list[dict[str, Any]] = []
        for ent in rows:
            period = period_of(ent["due"])
            subject = f"blacklist_inspection:{ent['id']}:{period}"
            if not fire(session, subject=subject, step=STEP, region_code=ent["region_code"], month=period, now=now,
                        enterprise_id=ent["id"]):
                continue
            counts["remind"] += 1
            title = f"黑名单企业 {ent['name']} 应于 {ent['due'].isoformat()} 前完成半年一次的检查"
            body = (f"{ent['name']} 在黑名单内，监管检查应至少每半年一次。上次检查（或列入黑名单）日期为 "
                    f"{ent['last'].isoformat()}，请于 {ent['due'].isoformat()} 前安排检查。")
            for user in inspectors:
                if regions.within(ent["region_code"], user.region_code) and (
                        not user.industry or user.industry == ent["industry"]):
                    inbox.append({"user_id": user.id, "hazard_id": None, "kind": "message", "title": title,
                                  "body": body, "dedupe_key": f"duty:{subject}:{STEP}:{user.id}", "created_at": now})
        if inbox:
            session.execute(insert(InboxItem), inbox)
            counts["messages"] = len(inbox)
    return counts
