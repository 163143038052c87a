"""直报: a region's monthly report prepared as a draft, submitted (上报) with its figures frozen,
then returned (退回, with a reason) or accepted (通过) by the 安委办 one level up.

What must hold:
- submitted figures are frozen: the report computed at the moment of submission is stored as
  canonical JSON with its SHA-256, and the record chain's `submit` event (subject
  `report:<region>:<month>`) carries the same hash; whoever serves a submitted month checks both
  (`frozen`) and refuses to serve a mismatch;
- a county submits its own figures; a city its roll-up of its accepted counties (and what is
  registered at its own code), to the province; the province's report is the top of the tree here;
- submission opens on the counties' deadline day (default: the month's last working day) so nobody
  freezes a half month by mistake; a city's report is due `ROLLUP_WORKDAYS` later (time to review
  and roll up its counties); a month is submitted again only after it was returned;
- every state change is one compare-and-set on `version`: of two clicks, one changes the row and
  writes one event, the other is a 409.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import ReportSubmission
from services.accounts.auth import Principal
from services.audit import records
from services.audit.chain import canonical, sha256
from services.kernel import regions
from services.kernel.clock import local_date
from services.kernel.errors import Conflict, Forbidden, Invalid
from services.kernel.inputs import control_message
from services.lifecycle.roles import Role
from services.reports.monthly import MonthlyReport, monthly
from services.reports.submission_rollup import accepted_snapshots, load_report, rollup
from services.reports.submission_status import (
    ACCEPTED, DRAFT, FROZEN, NOT_DRAFTED, REASON_MAX, RETURNED, ROLLUP_WORKDAYS, STATE_LABELS, SUBMITTED, T,
    ChildOut, DueRule, RecordEventOut, SubmissionOut, SubmittedOut, Target, acting_user, first_submits,
    is_late, month_deadline, readable, row_of, status, subject, target,
)

__all__ = [  # the states' side lives in submission_status; callers name it all through this module
    "ACCEPTED", "DRAFT", "FROZEN", "NOT_DRAFTED", "RETURNED", "ROLLUP_WORKDAYS", "STATE_LABELS", "SUBMITTED",
    "ChildOut", "DueRule", "RecordEventOut", "SubmissionOut", "SubmittedOut", "Target", "acting_user",
    "first_submits", "is_late", "month_deadline", "readable", "row_of", "status", "subject", "target",
    "frozen", "verified", "compute", "prepare", "submit", "decide", "submitted",
]


# --- the figures ------------------------------------------------------------------------------------


def frozen(session: Session, row: ReportSubmission) -> MonthlyReport:
    """A submitted month's figures, served only when the snapshot's SHA-256 is the stored one and
    the one the chain's last `submit` event recorded; otherwise a 409 that says so."""
    if not verified(session, row):
        raise Conflict("该月报上报后的数据与上报时记录的哈希不符，可能已被改动；请联系管理员核查审计记录",
                       code="integrity")
    return load_report(row.snapshot or "")


def verified(session: Session, row: ReportSubmission) -> bool:
    if row.snapshot is None or row.sha256 is None or sha256(row.snapshot) != row.sha256:
        return False
    submits = [e for e in records.trail(session, subject(row.region_code, row.month)) if e.action == "submit"]
    return bool(submits) and json.loads(submits[-1].payload).get("sha256") == row.sha256


def compute(session: Session, region_code: str, region_name: str, month: str, *, today: date) -> MonthlyReport:
    """The figures a submission freezes: a county's own report; a city's or the province's roll-up
    of its accepted children (each verified) and its own code's live figures."""
    if regions.region_level(region_code) == "county":
        return monthly(session, region_code, region_name, month, today=today)
    accepted = {code: frozen(session, row) for code, row in accepted_snapshots(session, region_code, month).items()}
    return rollup(session, region_code, region_name, month, today=today, frozen=accepted)


def prepare(session: Session, region_code: str, region_name: str, month: str, *, now: datetime) -> str:
    """The draft's figures as of now: `created`, `refreshed`, or `kept` (submitted, returned or
    accepted figures are never touched; a concurrent submission wins, the state check is in the
    UPDATE itself). The version is not bumped: a draft's refresh does not race a submission.
    `drafted_at` stays the first preparation's: it says since when the month was tracked."""
    row = row_of(session, region_code, month)
    if row is not None and row.state != DRAFT:
        return "kept"
    report = compute(session, region_code, region_name, month, today=local_date(now))
    snapshot = canonical(report.model_dump(mode="json"))
    if row is None:
        try:
            with session.begin_nested():
                session.execute(insert(T).values(region_code=region_code, month=month, state=DRAFT,
                                                 snapshot=snapshot, drafted_at=now, version=0))
        except IntegrityError:
            return "kept"
        return "created"
    done = session.execute(update(T).where(T.c.id == row.id, T.c.state == DRAFT).values(snapshot=snapshot))
    return "refreshed" if done.rowcount == 1 else "kept"


# --- the acts -----------------------------------------------------------------------------------


def _committee_of(principal: Principal, region_code: str | None, message: str) -> None:
    if principal.role != Role.COMMITTEE or region_code is None or principal.region_code != region_code:
        raise Forbidden(message, code="role")


def _cas(session: Session, row_id: int, version: int, states: tuple[str, ...], **values: Any) -> None:
    done = session.execute(update(T).where(T.c.id == row_id, T.c.version == version, T.c.state.in_(states))
                           .values(version=version + 1, **values))
    if done.rowcount != 1:
        raise Conflict("该月报刚被他人处理，请刷新后查看最新状态", code="stale")


def submit(session: Session, principal: Principal, t: Target, *, now: datetime, rule: DueRule) -> ReportSubmission:
    """上报: the figures of this moment frozen, hashed and recorded on the chain."""
    _committee_of(principal, t.code, "只有本地区安委办可以上报本地区的月报")
    if t.parent is None:
        raise Forbidden("省级月报是本系统的最高一级，无需再上报", code="no_parent")
    today = local_date(now)
    opens, deadline = rule.opens(t.month), rule.deadline(t.month, t.code)
    if today < opens:
        raise Invalid("尚未到上报时间", details=[{"field": "month", "message": (
            f"{t.month} 的月报自截止日 {opens:%Y年%m月%d日} 起方可上报，以免冻结不完整的月度数字")}])
    row = row_of(session, t.code, t.month)
    if row is not None and row.state in FROZEN:
        raise Conflict("该月月报已上报" + ("并已通过" if row.state == ACCEPTED else "，正待上级审核") + "，不能重复上报",
                       code="already_submitted")
    report = compute(session, t.code, t.name, t.month, today=today)
    snapshot = canonical(report.model_dump(mode="json"))
    digest = sha256(snapshot)
    values = dict(state=SUBMITTED, snapshot=snapshot, sha256=digest, submitted_by_id=principal.id,
                  submitted_at=now, decided_by_id=None, decided_at=None, return_reason=None)
    if row is None:
        try:
            with session.begin_nested():
                session.execute(insert(T).values(region_code=t.code, month=t.month, drafted_at=now, version=1,
                                                 **values))
        except IntegrityError:
            raise Conflict("该月报刚被他人处理，请刷新后查看最新状态", code="stale") from None
    else:
        _cas(session, row.id, row.version, (DRAFT, RETURNED), **values)
    firsts = first_submits(session, [subject(t.code, t.month)])
    records.append(session, subject=subject(t.code, t.month), action="submit", actor=principal, now=now, payload={
        "sha256": digest, "deadline": deadline.isoformat(),
        "late": is_late(firsts.get(subject(t.code, t.month), now), deadline, today)})
    return _reload(session, t)


def decide(session: Session, principal: Principal, t: Target, decision: str, *, now: datetime,
           reason: str | None = None) -> ReportSubmission:
    """退回 (`return`, a reason required) or 通过 (`accept`) by the 安委办 one level up; only a
    submitted report, and only one whose frozen figures still verify."""
    _committee_of(principal, t.parent, "只有上一级安委办可以退回或通过该月报")
    row = row_of(session, t.code, t.month)
    if row is None or row.state != SUBMITTED:
        raise Conflict("只有已上报、待审核的月报可以退回或通过", code="state")
    values: dict[str, Any] = dict(decided_by_id=principal.id, decided_at=now)
    payload: dict[str, Any] = {"sha256": row.sha256}
    if decision == "return":
        text = (reason or "").strip()
        problem = ("请填写退回理由" if not text else f"退回理由不能超过 {REASON_MAX} 个字" if len(text) > REASON_MAX
                   else control_message(text))
        if problem:
            raise Invalid("提交的内容有误，请按提示修改。", details=[{"field": "reason", "message": problem}])
        values.update(state=RETURNED, return_reason=text)
        payload["reason"] = text
    else:
        frozen(session, row)  # a tampered snapshot is not accepted
        values.update(state=ACCEPTED)
    _cas(session, row.id, row.version, (SUBMITTED,), **values)
    records.append(session, subject=subject(t.code, t.month), action=decision, actor=principal, now=now,
                   payload=payload)
    return _reload(session, t)


def _reload(session: Session, t: Target) -> ReportSubmission:
    row = row_of(session, t.code, t.month)
    assert row is not None
    session.refresh(row)
    return row


def submitted(session: Session, t: Target, *, today: date, rule: DueRule) -> SubmittedOut:
    """The frozen snapshot with its hash and the record chain's events (404 when never submitted)."""
    from services.kernel.errors import NotFound

    row = row_of(session, t.code, t.month)
    if row is None or row.snapshot is None or row.sha256 is None or row.state == DRAFT:
        raise NotFound("该月报尚未上报", code="not_submitted")
    report = frozen(session, row)
    events = [RecordEventOut(seq=e.seq, action=e.action, actor_name=e.actor_name, actor_role=e.actor_role,
                             occurred_at=e.occurred_at, payload=json.loads(e.payload), hash=e.hash)
              for e in records.trail(session, subject(t.code, t.month))]
    return SubmittedOut(submission=status(session, t, today=today, rule=rule), sha256=row.sha256,
                        verified=True, report=report, events=events)
