"""Filing and amending a self-inspection return, in the caller's transaction (nothing here commits).

One return per enterprise and month: filing again while the month is open (`window`) amends it
(version + 1); a repeat of the same filing changes nothing and records nothing. The hazards the
check found are reported through the lifecycle (`services.engine.creation.report`, source
企业自查) and linked to the return, or, when already reported as 企业自查 hazards of the month,
linked by id; a hazard already on the return (same title, location and description) is not
reported twice. "The state of earlier ones" is the enterprise's open hazards found before the
month, as they stand at filing, stored with the return (`earlier_state`, JSON). Every file and
amend is an event on the record chain `return:<enterprise id>:<month>`.

Concurrency: the return row is locked (`FOR UPDATE`) before it is amended, and two first filings
race on the (enterprise, month) unique key, the loser amending the winner's row; so two requests
at once never make two returns, fork the chain, or report a hazard twice.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import Enterprise, Hazard, SelfInspection
from services.accounts.auth import Principal
from services.audit import records
from services.calendar.workdays import WorkCalendar, default_calendar
from services.engine import creation
from services.inspections import window
from services.inspections.models import ReturnBody
from services.kernel.clock import SHANGHAI, local_date
from services.kernel.errors import Forbidden, Invalid
from services.kernel.validation import parse
from services.lifecycle.roles import Role
from services.lifecycle.states import OPEN_STATES, STATE_LABELS, State

INVALID = "提交的内容有误，请按提示修改。"


def subject(enterprise_id: int, month: str) -> str:
    return f"return:{enterprise_id}:{month}"


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The month's first and following month's first moment in Asia/Shanghai."""
    first = window.first_day(month)
    after = window.last_day(month) + timedelta(days=1)
    return datetime.combine(first, time.min, SHANGHAI), datetime.combine(after, time.min, SHANGHAI)


def own_enterprise(session: Session, actor: Principal) -> Enterprise:
    """The caller's enterprise, active: only an enterprise's own users file its returns."""
    if actor.role != Role.ENTERPRISE or actor.enterprise_id is None:
        raise Forbidden("只有企业用户可以报送本企业的自查报告", code="role")
    ent = session.get(Enterprise, actor.enterprise_id)
    if ent is None or not ent.active:
        raise Forbidden("本企业已停用，不能报送自查报告", code="disabled")
    return ent


def check_window(month: str, today: date, calendar: WorkCalendar, field: str = "month") -> None:
    if not window.is_open(month, today, calendar):
        closes = window.closes_on(window.previous_month(window.month_of(today)), calendar)
        raise Invalid(INVALID, details=[{"field": field, "message": (
            f"只能报送本月的自查报告；上月的报告可在本月前 {window.RULES.grace} 个工作日内"
            f"（至 {closes.isoformat()}）补报或修改")}])


def _dates(body: ReturnBody, today: date) -> list[dict[str, str]]:
    first, last = window.first_day(body.month), window.last_day(body.month)
    problems = []
    if body.checked_from > body.checked_to:
        problems.append({"field": "checked_to", "message": "检查结束日期不能早于开始日期"})
    for name in ("checked_from", "checked_to"):
        day = getattr(body, name)
        if not first <= day <= last:
            problems.append({"field": name, "message": f"检查日期应在 {body.month} 月内"})
        elif day > today:
            problems.append({"field": name, "message": "检查日期不能晚于今天"})
    for i, found in enumerate(body.hazards):
        day = found.discovered_on
        if day is not None and not (first <= day <= min(last, today)):
            problems.append({"field": f"hazards.{i}.discovered_on", "message": "发现日期应在本月内且不晚于今天"})
    return problems


def _linkable(session: Session, ent: Enterprise, body: ReturnBody, row_id: int | None) -> list[int]:
    """The ids to link: the enterprise's own 企业自查 hazards found in the month, not on another
    return. One message for any other id, so nothing about other enterprises' hazards leaks."""
    if not body.link_hazard_ids:
        return []
    start, end = month_bounds(body.month)
    wanted = sorted(set(body.link_hazard_ids))
    rows = session.execute(select(Hazard.id, Hazard.self_inspection_id).where(
        Hazard.id.in_(wanted), Hazard.enterprise_id == ent.id, Hazard.source == "self_check",
        Hazard.discovered_at >= start, Hazard.discovered_at < end)).all()
    ok = {r.id for r in rows if r.self_inspection_id in (None, row_id)}
    bad = [i for i in wanted if i not in ok]
    if bad:
        raise Invalid(INVALID, details=[{"field": "link_hazard_ids", "message":
                      f"隐患 {bad[0]} 不是本企业本月自查发现且未报送的隐患"}])
    return [r.id for r in rows if r.self_inspection_id != row_id or row_id is None]


def earlier_state(session: Session, ent: Enterprise, month: str) -> list[dict[str, Any]]:
    """The enterprise's hazards found before the month and still open, as they stand now."""
    start, _ = month_bounds(month)
    rows = session.execute(select(Hazard.id, Hazard.code, Hazard.title, Hazard.state, Hazard.level,
                                  Hazard.deadline)
                           .where(Hazard.enterprise_id == ent.id, Hazard.discovered_at < start,
                                  Hazard.state.in_([s.value for s in OPEN_STATES]))
                           .order_by(Hazard.id).limit(500)).all()
    return [{"id": r.id, "code": r.code, "title": r.title, "state": r.state,
             "state_label": STATE_LABELS[State(r.state)], "level": r.level,
             "deadline": r.deadline.isoformat() if r.deadline else None} for r in rows]


def _major_found(session: Session, ent: Enterprise, month: str) -> str | None:
    start, end = month_bounds(month)
    return session.scalar(select(Hazard.code).where(
        Hazard.enterprise_id == ent.id, Hazard.level == "major", Hazard.discovered_at >= start,
        Hazard.discovered_at < end, Hazard.state != State.DISMISSED.value).limit(1))


def _locked(session: Session, ent_id: int, month: str) -> SelfInspection | None:
    return session.scalars(select(SelfInspection).where(
        SelfInspection.enterprise_id == ent_id, SelfInspection.month == month).with_for_update()).first()


def _linked(session: Session, row_id: int) -> list[Hazard]:
    return list(session.scalars(select(Hazard).where(Hazard.self_inspection_id == row_id)))


def file_return(session: Session, actor: Principal, data: Any, *, now: datetime,
                calendar: WorkCalendar | None = None) -> int:
    """File or amend the caller's return for the body's month; returns the return's id."""
    calendar = calendar or default_calendar()
    ent = own_enterprise(session, actor)
    body = parse(ReturnBody, data)
    today = local_date(now)
    check_window(body.month, today, calendar)
    problems = _dates(body, today)
    if problems:
        raise Invalid(INVALID, details=problems)
    row = _locked(session, ent.id, body.month)
    linked = _linked(session, row.id) if row else []
    _check_nil(session, ent, body, linked)
    links = _linkable(session, ent, body, row.id if row else None)
    on_return = {(h.title, h.location, h.description) for h in linked}
    new = [h for h in body.hazards if (h.title, h.location, h.description) not in on_return]
    fields = dict(checked_from=body.checked_from, checked_to=body.checked_to, scope=body.scope,
                  principal=body.principal, nil_return=body.nil_return)
    if row is not None and not new and not links and all(getattr(row, k) == v for k, v in fields.items()):
        return row.id  # the same filing again: nothing changes
    earlier = earlier_state(session, ent, body.month)
    action = "amend"
    if row is None:
        row = _insert(session, ent.id, body.month, fields, earlier, actor, now)
        if row is None:  # a concurrent request filed it first: this one is an amendment of it
            return file_return(session, actor, data, now=now, calendar=calendar)
        action = "file"
    else:
        _amend(session, row, fields, earlier, actor, now)
    reported = []
    for found in new:
        hazard = creation.report(session, actor, {
            "title": found.title, "description": found.description, "location": found.location,
            "region_code": ent.region_code, "industry": ent.industry, "source": "self_check",
            "discovered_on": (found.discovered_on or min(body.checked_to, today)).isoformat(),
        }, now=now)
        reported.append(hazard.id)
    if reported or links:
        session.execute(update(Hazard).where(Hazard.id.in_(reported + links))
                        .values(self_inspection_id=row.id).execution_options(synchronize_session="fetch"))
    records.append(session, subject=subject(ent.id, body.month), action=action, actor=actor, now=now, payload={
        "return_id": row.id, "version": row.version, **{k: (v.isoformat() if isinstance(v, date) else v)
                                                        for k, v in fields.items()},
        "reported_hazard_ids": reported, "linked_hazard_ids": links,
        "earlier": [{"id": e["id"], "state": e["state"]} for e in earlier]})
    return row.id


def _check_nil(session: Session, ent: Enterprise, body: ReturnBody, linked: list[Hazard]) -> None:
    """A nil return (未发现重大事故隐患) lists no hazard and cannot stand against a major hazard of
    the enterprise found that month; a return that is not nil lists what was found."""
    if body.nil_return:
        if body.hazards or body.link_hazard_ids:
            message = "零报告（未发现重大事故隐患）不能同时列出发现的隐患"
        elif linked:
            message = "本报告已列有发现的隐患，不能改为零报告"
        else:
            code = _major_found(session, ent, body.month)
            message = f"本企业本月已发现重大事故隐患（{code}），不能报告未发现重大事故隐患" if code else ""
        if message:
            raise Invalid(INVALID, details=[{"field": "nil_return", "message": message}])
    elif not (body.hazards or body.link_hazard_ids or linked):
        raise Invalid(INVALID, details=[{"field": "hazards", "message":
                      "请逐条列出本次检查发现的隐患；未发现隐患的，请勾选零报告"}])


def _insert(session: Session, ent_id: int, month: str, fields: dict[str, Any], earlier: list[dict[str, Any]],
            actor: Principal, now: datetime) -> SelfInspection | None:
    """A new return, or None when a concurrent request filed the month's return first."""
    try:
        with session.begin_nested():
            row = SelfInspection(enterprise_id=ent_id, month=month, filed_by_id=actor.id, filed_at=now, version=1,
                                 earlier_state=json.dumps(earlier, ensure_ascii=False), **fields)
            session.add(row)
        return row
    except IntegrityError:
        return None


def _amend(session: Session, row: SelfInspection, fields: dict[str, Any], earlier: list[dict[str, Any]],
           actor: Principal, now: datetime) -> None:
    for key, value in fields.items():
        setattr(row, key, value)
    row.earlier_state = json.dumps(earlier, ensure_ascii=False)
    row.filed_by_id, row.filed_at, row.version = actor.id, now, row.version + 1
    session.flush()
