"""直报 states as readers see them: the deadline rule, the region asked for (checked like the report
itself), a region's and its children's states and lateness, and the answers' models. The acts and
the figures are services/reports/submission.py's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import ReportSubmission, RecordEvent
from services.accounts.auth import Principal
from services.calendar.workdays import WorkCalendar
from services.kernel import regions
from services.kernel.clock import local_date
from services.kernel.errors import Forbidden
from services.kernel.settings import get_settings
from services.reports.monthly import MonthlyReport, month_period
from services.reads.directory import month_in_scope

T = ReportSubmission.__table__
DRAFT, SUBMITTED, RETURNED, ACCEPTED, NOT_DRAFTED = "draft", "submitted", "returned", "accepted", "not_drafted"
FROZEN = (SUBMITTED, ACCEPTED)
STATE_LABELS = {NOT_DRAFTED: "未上报", DRAFT: "未上报（草稿已生成）", SUBMITTED: "已上报，待审核", RETURNED: "已退回",
                ACCEPTED: "已通过"}
REASON_MAX = 500
ROLLUP_WORKDAYS = 3  # a city's report is due this many working days after its counties'


def subject(region_code: str, month: str) -> str:
    return f"report:{region_code}:{month}"


def month_deadline(month: str, calendar: WorkCalendar, before: int | None = None) -> date:
    """The month's last working day, `before` working days earlier (the setting when None)."""
    if before is None:
        before = get_settings().report_deadline_workdays_before_month_end
    day = month_period(month).last
    while not calendar.is_working_day(day):
        day -= timedelta(days=1)
    return calendar.add_working_days(day, -before) if before else day


@dataclass(frozen=True)
class DueRule:
    """When a month's report is due: the calendar and the deployment's setting
    (`report_deadline_workdays_before_month_end`)."""

    calendar: WorkCalendar
    before: int = 0

    def opens(self, month: str) -> date:
        """The counties' deadline, from which any region may submit."""
        return month_deadline(month, self.calendar, self.before)

    def deadline(self, month: str, region_code: str | None = None) -> date:
        """A county's deadline; a city's (or the province's) `ROLLUP_WORKDAYS` later, so that it
        can return, accept and roll up its counties' reports before its own is due."""
        day = self.opens(month)
        if region_code is not None and regions.region_level(region_code) != "county":
            return self.calendar.add_working_days(day, ROLLUP_WORKDAYS)
        return day

    @classmethod
    def of(cls, calendar: WorkCalendar, settings: Any = None) -> DueRule:
        return cls(calendar, (settings or get_settings()).report_deadline_workdays_before_month_end)


# --- what the readers are shown ---------------------------------------------------------------------


class ChildOut(BaseModel):
    region_code: str
    region_name: str
    state: str  # not_drafted | draft | submitted | returned | accepted
    state_label: str
    submitted_at: datetime | None
    late: bool  # not submitted by the end of the deadline day (a first submission after it is late too)


class SubmissionOut(BaseModel):
    region_code: str
    region_name: str
    month: str
    state: str
    state_label: str
    version: int
    sha256: str | None  # of the frozen figures; None while not submitted
    deadline: date
    late: bool
    submitted_at: datetime | None
    decided_at: datetime | None
    return_reason: str | None
    parent_code: str | None  # who returns or accepts it (None: the province, the top here)
    children: list[ChildOut]  # a city's counties, the province's cities


class RecordEventOut(BaseModel):
    seq: int
    action: str
    actor_name: str
    actor_role: str
    occurred_at: datetime
    payload: dict[str, Any]
    hash: str


class SubmittedOut(BaseModel):
    submission: SubmissionOut
    sha256: str
    verified: bool  # the snapshot's hash matches the stored one and the chain's `submit` event
    report: MonthlyReport
    events: list[RecordEventOut]


# --- looking up ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    code: str
    name: str
    parent: str | None
    month: str


def readable(principal: Principal) -> None:
    from services.reports.monthly import READERS

    if principal.role not in READERS:
        raise Forbidden("当前角色无权查看月报", code="role")


def target(session: Session, principal: Principal, region_code: str | None, month: str, today: date) -> Target:
    """The region and month asked for, checked like the report itself (422 for a bad month or code,
    403 for a region outside the caller's scope, as GET /reports/monthly answers)."""
    asked = month_in_scope(session, principal, month=month, region_code=region_code, today=today, what="月报")
    parent = asked.parent_code if regions.region_level(asked.code) != "province" else None
    return Target(asked.code, asked.name, parent, asked.month)


def acting_user(session: Session, username: str) -> Principal:
    """The active user the command line acts as (`hazard reports submit --as`)."""
    from db.models import User
    from services.accounts.auth import principal_of
    from services.kernel.errors import NotFound

    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    if user is None:
        raise NotFound("没有这个用户，或该用户已停用", code="user")
    return principal_of(user)


def row_of(session: Session, region_code: str, month: str) -> ReportSubmission | None:
    return session.scalar(select(ReportSubmission).where(
        ReportSubmission.region_code == region_code, ReportSubmission.month == month))


def first_submits(session: Session, subjects: list[str]) -> dict[str, datetime]:
    """When each subject was first submitted (its first `submit` event): lateness is judged by it,
    so a report returned and submitted again after the deadline stays on time."""
    out: dict[str, datetime] = {}
    for i in range(0, len(subjects), 500):
        for subj, at in session.execute(
                select(RecordEvent.subject, RecordEvent.occurred_at)
                .where(RecordEvent.subject.in_(subjects[i:i + 500]), RecordEvent.action == "submit")
                .order_by(RecordEvent.subject, RecordEvent.seq)):
            out.setdefault(subj, at)
    return out


def is_late(first_submit: datetime | None, deadline: date, today: date) -> bool:
    if first_submit is None:
        return today > deadline
    return local_date(first_submit) > deadline


def status(session: Session, t: Target, *, today: date, rule: DueRule) -> SubmissionOut:
    """The region's own submission state and its children's, so a city sees who is missing."""
    from services.reports.submission_rollup import children

    kids = children(session, t.code)
    rows = {r.region_code: r for r in session.scalars(select(ReportSubmission).where(
        ReportSubmission.month == t.month, ReportSubmission.region_code.in_([t.code, *(k for k, _ in kids)])))}
    firsts = first_submits(session, [subject(c, t.month) for c in [t.code, *(k for k, _ in kids)]])

    def state_of(code: str) -> tuple[str, ReportSubmission | None]:
        row = rows.get(code)
        return (row.state if row else NOT_DRAFTED), row

    out_kids = []
    for code, name in kids:
        state, row = state_of(code)
        out_kids.append(ChildOut(region_code=code, region_name=name, state=state, state_label=STATE_LABELS[state],
                                 submitted_at=row.submitted_at if row else None,
                                 late=is_late(firsts.get(subject(code, t.month)), rule.deadline(t.month, code),
                                              today)))
    state, row = state_of(t.code)
    deadline = rule.deadline(t.month, t.code)
    return SubmissionOut(
        region_code=t.code, region_name=t.name, month=t.month, state=state, state_label=STATE_LABELS[state],
        version=row.version if row else 0, sha256=row.sha256 if row and row.state in FROZEN else None,
        deadline=deadline, late=t.parent is not None and is_late(firsts.get(subject(t.code, t.month)), deadline, today),
        submitted_at=row.submitted_at if row else None, decided_at=row.decided_at if row else None,
        return_reason=row.return_reason if row else None, parent_code=t.parent, children=out_kids)


