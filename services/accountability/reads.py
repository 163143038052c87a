"""Reading 问责移交 and 约谈 records: committee offices, supervisors and auditors whose area holds
the hazard; anyone else, or a record outside the area, answers 404 (its existence stays hidden)."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import AuditEvent, Enterprise, Hazard, Referral, Summons
from services.accountability.models import ReferralOut, SummonsOut
from services.kernel import regions
from services.kernel.clock import local_date, local_text
from services.kernel.errors import Forbidden, NotFound
from services.lifecycle.roles import Role

READERS = frozenset({Role.COMMITTEE, Role.SUPERVISOR, Role.AUDITOR})
OUTCOME_LABELS = {"pending": "待反馈", "accepted": "已受理", "investigating": "调查中", "concluded": "已办结",
                  "declined": "不予受理"}
LIMIT = 200


def check_reader(principal) -> None:
    if principal.role not in READERS:
        raise Forbidden("问责移交和约谈记录供安委办、监管部门和审计人员查看", code="role")


def _in_area(principal, hazard_region: str) -> bool:
    return principal.role in READERS and regions.within(hazard_region, principal.region_code)


def referral_out(r: Referral, h_code: str, h_title: str) -> ReferralOut:
    facts = json.loads(r.facts)
    return ReferralOut(
        id=r.id, hazard_id=r.hazard_id, hazard_code=h_code, hazard_title=h_title, region_code=r.region_code,
        addressed_to=r.addressed_to, addressee_configured=bool(facts.get("addressee_configured")), number=r.number,
        sha256=r.sha256, outcome=r.outcome, outcome_label=OUTCOME_LABELS.get(r.outcome, r.outcome),
        outcome_note=r.outcome_note, outcome_at=local_text(r.outcome_at), created_at=local_text(r.created_at) or "",
        facts=facts)


def summons_out(s: Summons, h_code: str, h_title: str, enterprise: str | None, fired_at) -> SummonsOut:
    return SummonsOut(
        id=s.id, hazard_id=s.hazard_id, hazard_code=h_code, hazard_title=h_title, enterprise=enterprise,
        region_code=s.region_code, summoned_on=local_date(fired_at).isoformat(),
        held_on=s.held_on.isoformat() if s.held_on else None, attendees=s.attendees, commitments=s.commitments,
        recorded_at=local_text(s.recorded_at))


def _referrals():
    return select(Referral, Hazard.code, Hazard.title, Hazard.region_code).join(Hazard, Hazard.id == Referral.hazard_id)


def _summonses():
    return (select(Summons, Hazard.code, Hazard.title, Hazard.region_code, Enterprise.name, AuditEvent.occurred_at)
            .join(Hazard, Hazard.id == Summons.hazard_id).join(AuditEvent, AuditEvent.id == Summons.event_id)
            .outerjoin(Enterprise, Enterprise.id == Summons.enterprise_id))


def _area(principal):
    return Hazard.region_code.startswith(regions.scope_prefix(principal.region_code), autoescape=True)


def referrals(session: Session, principal) -> list[ReferralOut]:
    check_reader(principal)
    rows = session.execute(_referrals().where(_area(principal)).order_by(Referral.id.desc()).limit(LIMIT)).all()
    return [referral_out(r[0], r.code, r.title) for r in rows]


def referral_row(session: Session, principal, referral_id: int) -> Referral:
    row = session.execute(_referrals().where(Referral.id == referral_id)).first()
    if row is None or not _in_area(principal, row.region_code):
        raise NotFound("问责移交记录不存在")
    return row[0]


def referral(session: Session, principal, referral_id: int) -> ReferralOut:
    row = session.execute(_referrals().where(Referral.id == referral_id)).first()
    if row is None or not _in_area(principal, row.region_code):
        raise NotFound("问责移交记录不存在")
    return referral_out(row[0], row.code, row.title)


def summonses(session: Session, principal) -> list[SummonsOut]:
    check_reader(principal)
    rows = session.execute(_summonses().where(_area(principal)).order_by(Summons.id.desc()).limit(LIMIT)).all()
    return [summons_out(r[0], r.code, r.title, r.name, r.occurred_at) for r in rows]


def summons(session: Session, principal, summons_id: int) -> SummonsOut:
    row = session.execute(_summonses().where(Summons.id == summons_id)).first()
    if row is None or not _in_area(principal, row.region_code):
        raise NotFound("约谈记录不存在")
    return summons_out(row[0], row.code, row.title, row.name, row.occurred_at)


def of_hazard(session: Session, hazard_id: int) -> tuple[list[ReferralOut], list[SummonsOut]]:
    """A hazard's records, for its page (the page has checked the reader's scope on the hazard)."""
    refs = [referral_out(r[0], r.code, r.title) for r in session.execute(
        _referrals().where(Referral.hazard_id == hazard_id).order_by(Referral.id))]
    sums = [summons_out(r[0], r.code, r.title, r.name, r.occurred_at) for r in session.execute(
        _summonses().where(Summons.hazard_id == hazard_id).order_by(Summons.id))]
    return refs, sums
