"""What the offices record on the records: a referral's outcome as the 纪检监察 body answers
(pending → accepted → investigating → concluded, or declined), by the referring committee office;
a 约谈's date held, attendees and commitments, by a committee office or supervisor of the hazard's
area. Each is an event on the record's chain (`referral:<id>`, `summons:<id>`); the outcome is a
compare-and-set on the one it replaces, so two offices answering at once cannot both move it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from db.models import Referral, Summons
from services.accountability import reads
from services.accountability.models import ReferralOut, SummonsOut
from services.audit import records
from services.kernel.clock import local_date
from services.kernel.errors import Conflict, Forbidden, Invalid
from services.kernel.inputs import control_character
from services.lifecycle.roles import Role

NEXT = {"pending": {"accepted", "investigating", "concluded", "declined"},
        "accepted": {"investigating", "concluded"}, "investigating": {"concluded"}}
NOTE_NEEDED = {"concluded", "declined"}
MAX_NOTE, MAX_ATTENDEES, MAX_COMMITMENTS = 1000, 500, 2000


def _text(problems: list, field: str, value: str | None, limit: int, *, required: bool, label: str) -> str | None:
    value = (value or "").strip() or None
    if value is None:
        if required:
            problems.append({"field": field, "message": f"请填写{label}"})
    elif len(value) > limit or control_character(value):
        problems.append({"field": field, "message": f"{label}最多 {limit} 个字，且不能含控制字符"})
    return value


def set_outcome(session: Session, principal, referral_id: int, outcome: str, note: str | None, *,
                now: datetime) -> ReferralOut:
    row = reads.referral_row(session, principal, referral_id)
    if principal.role != Role.COMMITTEE or principal.region_code != row.region_code:
        raise Forbidden("只有移交问责的安委办可以登记办理结果", code="role")
    problems: list = []
    if outcome not in reads.OUTCOME_LABELS or outcome == "pending":
        problems.append({"field": "outcome", "message": "办理结果应为 accepted、investigating、concluded 或 declined"})
    note = _text(problems, "note", note, MAX_NOTE, required=outcome in NOTE_NEEDED, label="办理情况说明")
    if problems:
        raise Invalid("提交的内容有误，请按提示修改。", details=problems)
    before = row.outcome
    if outcome not in NEXT.get(before, set()):
        raise Conflict(f"问责移交当前为“{reads.OUTCOME_LABELS[before]}”，不能改为“{reads.OUTCOME_LABELS[outcome]}”",
                       code="outcome")
    done = session.execute(update(Referral).where(Referral.id == referral_id, Referral.outcome == before).values(
        outcome=outcome, outcome_note=note, outcome_by_id=principal.id, outcome_at=now)).rowcount
    if done != 1:
        raise Conflict("办理结果已被他人同时更新，请刷新后重试", code="stale")
    records.append(session, subject=f"referral:{referral_id}", action="outcome", actor=principal,
                   payload={"from": before, "to": outcome, "note": note}, now=now)
    session.expire_all()
    return reads.referral(session, principal, referral_id)


def _day(problems: list, raw: object, today: date) -> date | None:
    try:
        day = raw if isinstance(raw, date) else date.fromisoformat(str(raw or "").strip()[:10])
    except ValueError:
        problems.append({"field": "held_on", "message": "约谈日期格式应为 YYYY-MM-DD"})
        return None
    if day > today:
        problems.append({"field": "held_on", "message": "约谈日期不能晚于今天"})
    return day


def record_summons(session: Session, principal, summons_id: int, *, held_on: object, attendees: str | None,
                   commitments: str | None, now: datetime) -> SummonsOut:
    current = reads.summons(session, principal, summons_id)
    if principal.role not in (Role.COMMITTEE, Role.SUPERVISOR):
        raise Forbidden("约谈情况由安委办或监管部门登记", code="role")
    problems: list = []
    day = _day(problems, held_on, local_date(now))
    if day is not None and day.isoformat() < current.summoned_on:
        problems.append({"field": "held_on", "message": "约谈日期不能早于约谈决定之日"})
    attendees = _text(problems, "attendees", attendees, MAX_ATTENDEES, required=True, label="参加人员")
    commitments = _text(problems, "commitments", commitments, MAX_COMMITMENTS, required=True, label="整改承诺")
    if problems:
        raise Invalid("提交的内容有误，请按提示修改。", details=problems)
    if (current.held_on, current.attendees, current.commitments) == (day.isoformat() if day else None, attendees,
                                                                     commitments):
        return current  # the same record again (a double submit): nothing new to record
    session.execute(update(Summons).where(Summons.id == summons_id).values(
        held_on=day, attendees=attendees, commitments=commitments, recorded_by_id=principal.id, recorded_at=now))
    records.append(session, subject=f"summons:{summons_id}", action="record", actor=principal,
                   payload={"held_on": day.isoformat() if day else None, "attendees": attendees,
                            "commitments": commitments}, now=now)
    session.expire_all()
    return reads.summons(session, principal, summons_id)
