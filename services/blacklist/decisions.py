"""The committee office's 黑名单 decision on a candidate for a quarter: 列入 or 不列入, with a reason.

- Who: a committee office (安委办) of the enterprise's region or above; an enterprise outside the
  caller's region is not found (404), so its existence does not leak.
- Once: one decision per enterprise and quarter (a unique row); a second one, or the loser of two
  at once, is a Conflict (409) and writes nothing.
- What it records: the row with the evidence as shown (the candidate's evidence recomputed now),
  and an event on the record chain `blacklist:<enterprise id>:<quarter>` with the evidence's
  SHA-256.
- The period: 列入 runs from the decision's day for one year, three when the enterprise was
  listed before; it runs on while a major hazard of it stays open (services/blacklist/status.py).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import BlacklistDecision, Enterprise
from services.accounts.auth import Principal
from services.audit import records
from services.audit.chain import canonical, sha256
from services.blacklist import candidates
from services.blacklist.status import DECISIONS, LISTED, is_listed
from services.kernel import regions
from services.kernel.clock import local_date
from services.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from services.kernel.inputs import control_message
from services.lifecycle.roles import Role

MAX_REASON = 1000


class DecisionOut(BaseModel):
    id: int
    enterprise_id: int
    quarter: str
    decision: str
    decision_label: str
    reason: str
    listed_from: str | None
    listed_until: str | None
    decided_at: str
    decided_on: str  # Asia/Shanghai
    evidence: dict[str, Any]


def out(row: BlacklistDecision) -> DecisionOut:
    return DecisionOut(
        id=row.id, enterprise_id=row.enterprise_id, quarter=row.quarter, decision=row.decision,
        decision_label=DECISIONS[row.decision], reason=row.reason,
        listed_from=row.listed_from.isoformat() if row.listed_from else None,
        listed_until=row.listed_until.isoformat() if row.listed_until else None,
        decided_at=row.decided_at.isoformat(),
        decided_on=local_date(row.decided_at).isoformat(), evidence=json.loads(row.evidence))


def years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def require_committee(principal: Principal) -> None:
    if principal.role != Role.COMMITTEE:
        raise Forbidden("只有安委办可以作出黑名单决定", code="role")


def enterprise_in_scope(session: Session, principal: Principal, enterprise_id: int) -> Enterprise:
    ent = session.get(Enterprise, enterprise_id)
    if ent is None or not regions.within(ent.region_code, principal.region_code):
        raise NotFound("未找到该企业")
    return ent


def _reason(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    problem = None
    if not text:
        problem = "请填写理由"
    elif len(text) > MAX_REASON:
        problem = f"理由不能超过 {MAX_REASON} 字"
    else:
        problem = control_message(text)
    if problem:
        raise Invalid("提交的内容有误，请按提示修改。", details=[{"field": "reason", "message": problem}])
    return text


def decide(session: Session, principal: Principal, enterprise_id: int, *, quarter: str, decision: Any,
           reason: Any, now: datetime) -> DecisionOut:
    require_committee(principal)
    ent = enterprise_in_scope(session, principal, enterprise_id)
    today = local_date(now)
    if decision not in DECISIONS:
        raise Invalid("提交的内容有误，请按提示修改。",
                      details=[{"field": "decision", "message": "决定应为 listed（列入）或 not_listed（不列入）"}])
    text = _reason(reason)
    found = candidates.compute(session, ent.region_code, quarter, today=today, only=ent.id)
    if not found:
        raise Invalid("该企业不是本季度的黑名单候选", details=[
            {"field": "enterprise_id", "message": "该企业本季度未达到黑名单候选条件，无需作出决定"}])
    if session.scalar(select(BlacklistDecision.id).where(
            BlacklistDecision.enterprise_id == ent.id, BlacklistDecision.quarter == quarter)) is not None:
        raise Conflict("该企业本季度已作出黑名单决定", code="already_decided")
    evidence = found[0].evidence.model_dump(mode="json")
    listed_from = listed_until = None
    if decision == LISTED:
        before = session.scalar(select(BlacklistDecision.id).where(
            BlacklistDecision.enterprise_id == ent.id, BlacklistDecision.decision == LISTED).limit(1))
        listed_from = today
        listed_until = years_later(today, 3 if before is not None else 1)
    row = BlacklistDecision(enterprise_id=ent.id, quarter=quarter, decision=decision, reason=text,
                            evidence=canonical(evidence), listed_from=listed_from, listed_until=listed_until,
                            decided_by_id=principal.id, decided_at=now)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise Conflict("该企业本季度已作出黑名单决定", code="already_decided") from None
    records.append(session, subject=f"blacklist:{ent.id}:{quarter}", action="decide", actor=principal, payload={
        "decision": decision, "reason": text, "evidence_sha256": sha256(canonical(evidence)),
        "listed_from": listed_from.isoformat() if listed_from else None,
        "listed_until": listed_until.isoformat() if listed_until else None,
    }, now=now)
    return out(row)


def history(session: Session, enterprise_id: int) -> list[DecisionOut]:
    rows = session.scalars(select(BlacklistDecision).where(BlacklistDecision.enterprise_id == enterprise_id)
                           .order_by(BlacklistDecision.decided_at.desc(), BlacklistDecision.id.desc()))
    return [out(r) for r in rows]


def decided(session: Session, quarter: str, enterprise_ids: list[int]) -> dict[int, DecisionOut]:
    if not enterprise_ids:
        return {}
    rows = session.scalars(select(BlacklistDecision).where(
        BlacklistDecision.quarter == quarter, BlacklistDecision.enterprise_id.in_(sorted(set(enterprise_ids)))))
    return {r.enterprise_id: out(r) for r in rows}


__all__ = ["decide", "history", "decided", "is_listed", "DecisionOut"]
