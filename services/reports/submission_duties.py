"""The daily duties of 直报 (the `office-duties` flow, `hazard reports prepare`): every region's draft
prepared, and the deadline's steps fired once each.

- drafts: every county, city and province region, for this month and the last (a late county
  still owes last month's); counties first, so cities roll up what was accepted by then; a batch of
  regions per transaction; each region's report is computed set-based (a few grouped queries);
- `remind`, on the deadline day (a county's; a city's is later, `submission.ROLLUP_WORKDAYS`)
  while the report is not submitted: a message to its 安委办;
- `late`, from the first working day after the deadline, for a report not first submitted by the
  end of the deadline day: a message to its 安委办 and to the 安委办 above, and an entry on the list
  of the region above (通报, `late_report:<region>:<month>`). Only for a month whose draft was
  prepared by its deadline: a deployment that starts mid-month lists nobody for the month before.
A region whose figures cannot be computed (a child's frozen snapshot no longer matches its hash)
is counted in `drafts_failed` and logged; the others go on.
Each step fires once (services/escalation/duties.py), is an event on the report's record chain by
`system`, and its messages are inbox items written in the same transaction (one per user, keyed).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Any

import structlog
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from db.engine import UnitOfWork
from db.models import InboxItem, Region, ReportSubmission, User
from services.accounts.auth import SYSTEM
from services.audit import records
from services.bulletins.items import LATE_REPORT, propose
from services.calendar.workdays import WorkCalendar
from services.escalation.duties import fire
from services.kernel.clock import local_date
from services.kernel.errors import DomainError
from services.kernel.settings import get_settings
from services.lifecycle.roles import Role
from services.reports.submission import FROZEN, DueRule, first_submits, prepare, subject

log = structlog.get_logger("hazard.reports")
LEVEL_ORDER = {"county": 0, "city": 1, "province": 2}
REGIONS_PER_TRANSACTION = 20


def months_due(today: date) -> list[str]:
    """Last month and this one."""
    last = f"{today.year - 1}-12" if today.month == 1 else f"{today.year}-{today.month - 1:02d}"
    return [last, f"{today:%Y-%m}"]


def _regions(session: Session) -> list[tuple[str, str, str | None, str]]:
    rows = session.execute(select(Region.code, Region.name, Region.parent_code, Region.level)
                           .where(Region.level.in_(tuple(LEVEL_ORDER)))).all()
    return sorted(((c, n, p, lv) for c, n, p, lv in rows if len(c) == 6), key=lambda r: (LEVEL_ORDER[r[3]], r[0]))


def _message(session: Session, region_code: str, key: str, title: str, body: str, now: datetime) -> int:
    """One inbox message to each active 安委办 user of exactly this region (keyed: never twice)."""
    users = session.scalars(select(User.id).where(User.role == Role.COMMITTEE.value, User.region_code == region_code,
                                                  User.active.is_(True))).all()
    for user_id in users:
        dedupe = f"duty:{key}:{user_id}"
        if session.scalar(select(InboxItem.id).where(InboxItem.dedupe_key == dedupe)) is None:
            session.execute(insert(InboxItem).values(user_id=user_id, hazard_id=None, kind="message", title=title,
                                                     body=body, dedupe_key=dedupe, created_at=now))
    return len(users)


def _steps(session: Session, month: str, regions: list[tuple[str, str, str | None, str]], *, today: date,
           now: datetime, rule: DueRule, counts: Counter[str]) -> None:
    if today < rule.opens(month):
        return
    names = {code: name for code, name, _, _ in regions}
    due = [(code, name, parent) for code, name, parent, level in regions if level != "province" and parent]
    rows = session.execute(select(ReportSubmission.region_code, ReportSubmission.state, ReportSubmission.drafted_at)
                           .where(ReportSubmission.month == month)).all()
    states = {code: state for code, state, _ in rows}
    drafted = {code: local_date(at) for code, _, at in rows if at is not None}
    firsts = first_submits(session, [subject(code, month) for code, _, _ in due])
    for code, name, parent in due:
        subj, deadline = subject(code, month), rule.deadline(month, code)
        first = firsts.get(subj)
        # Late only for a month the service was tracking by its deadline (a draft prepared by then:
        # a deployment that starts mid-month does not list every region for the month before), and
        # never for a report first submitted by the end of its deadline day.
        if today < deadline or drafted.get(code, today) > deadline or (
                first is not None and local_date(first) <= deadline):
            continue
        if today < rule.calendar.add_working_days(deadline, 1):
            if states.get(code) in FROZEN or not fire(session, subject=subj, step="remind", region_code=code,
                                                      month=month, now=now):
                continue
            records.append(session, subject=subj, action="remind", actor=SYSTEM, now=now,
                           payload={"deadline": deadline.isoformat()})
            counts["remind"] += 1
            counts["messages"] += _message(
                session, code, f"{subj}:remind", f"月报今日截止：{name} {month}",
                f"{name} {month} 的月报今天（{deadline:%Y年%m月%d日}）截止上报，尚未上报。请核对数字后在“月报”页面上报。", now)
            continue
        if not fire(session, subject=subj, step="late", region_code=code, month=month, now=now):
            continue
        records.append(session, subject=subj, action="late", actor=SYSTEM, now=now,
                       payload={"deadline": deadline.isoformat(), "state": states.get(code, "not_drafted")})
        counts["late"] += 1
        text = f"{name} {month} 的月报未在截止日 {deadline:%Y年%m月%d日} 前上报，已列入{names.get(parent, '上级')}的通报清单。"
        counts["messages"] += _message(session, code, f"{subj}:late", f"月报逾期未报：{name} {month}", text, now)
        counts["messages"] += _message(session, parent, f"{subj}:late", f"下级月报逾期未报：{name} {month}", text, now)
        if propose(session, key=f"late_report:{code}:{month}", region_code=parent, month=month, kind=LATE_REPORT,
                   subject_region_code=code, now=now,
                   reason=f"{name} {month} 月报未在截止日 {deadline:%Y-%m-%d} 前上报"):
            counts["listed"] += 1


def sweep(uow: UnitOfWork, *, now: datetime, calendar: WorkCalendar, settings: Any = None) -> dict[str, int]:
    """Prepare every region's drafts for last month and this one, then fire the deadline's steps.
    Returns counts: drafts created / refreshed / kept / failed, remind, late, messages, listed."""
    rule = DueRule.of(calendar, settings or get_settings())
    today = local_date(now)
    counts: Counter[str] = Counter()
    with uow.read() as session:
        regions = _regions(session)
    for month in months_due(today):
        for i in range(0, len(regions), REGIONS_PER_TRANSACTION):
            with uow.write() as session:
                for code, name, _, _ in regions[i:i + REGIONS_PER_TRANSACTION]:
                    try:  # compute() refuses before writing anything: the transaction stays usable
                        counts[f"drafts_{prepare(session, code, name, month, now=now)}"] += 1
                    except DomainError as exc:
                        log.warning("report_draft_failed", region=code, month=month, error=exc.message)
                        counts["drafts_failed"] += 1
        with uow.write() as session:
            _steps(session, month, regions, today=today, now=now, rule=rule, counts=counts)
    return {key: counts[key] for key in ("drafts_created", "drafts_refreshed", "drafts_kept", "drafts_failed",
                                         "remind", "late", "messages", "listed")}
