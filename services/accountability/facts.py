"""What a 问责移交 sends: the hazard's facts, its enterprise and supervising department, the
timeline of its audit trail up to the referral, and the steps already taken (the ladder's steps,
the 督办函 and 约谈通知书 numbers, 约谈 held, 通报 issued). Read once, when the referral is made,
and kept with it as sent."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import AuditEvent, Bulletin, BulletinItem, Document, Enterprise, Hazard, Summons
from services.documents.issuers import region_name
from services.escalation.ladder import STEP_LABELS, Step
from services.kernel.clock import local_date
from services.lifecycle.table import LIFECYCLE

LEVELS = {"general": "一般事故隐患", "major": "重大事故隐患"}
LISTING = {"county": "县级", "city": "市级", "province": "省级"}


def _label(action: str) -> str:
    spec = LIFECYCLE.get(action)
    return spec.label if spec is not None else action


def _d(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def facts_of(session: Session, hazard: Hazard, event: AuditEvent) -> dict[str, Any]:
    ent = session.get(Enterprise, hazard.enterprise_id) if hazard.enterprise_id else None
    events = session.scalars(select(AuditEvent).where(AuditEvent.hazard_id == hazard.id,
                                                      AuditEvent.seq <= event.seq).order_by(AuditEvent.seq)).all()
    timeline, steps = [], []
    for e in events:
        body = (json.loads(e.payload).get("body") or {}) if e.action == "escalate" else {}
        label = _label(e.action)
        if e.action == "escalate" and body.get("step") in Step.__members__:
            label = f"{label}：{STEP_LABELS[Step[body['step']]]}"
            if e.id != event.id:
                steps.append({"date": _d(local_date(e.occurred_at)), "what": STEP_LABELS[Step[body["step"]]]})
        timeline.append({"date": _d(local_date(e.occurred_at)), "action": label, "who": e.actor_name})
    for doc in session.scalars(select(Document).where(
            Document.hazard_id == hazard.id, Document.kind.in_(("urge_letter", "summon_notice", "listing_notice")),
            Document.issued_at <= event.occurred_at).order_by(Document.id)):
        steps.append({"date": _d(local_date(doc.issued_at)), "what": f"印发{doc.title}（{doc.number}）"})
    for s in session.scalars(select(Summons).where(Summons.hazard_id == hazard.id, Summons.held_on.is_not(None))
                             .order_by(Summons.id)):
        steps.append({"date": _d(s.held_on), "what": f"约谈：{s.attendees or ''}；承诺：{s.commitments or ''}"})
    for number, issued in session.execute(
            select(Bulletin.number, Bulletin.issued_at).join(BulletinItem, BulletinItem.bulletin_id == Bulletin.id)
            .where(BulletinItem.hazard_id == hazard.id).order_by(Bulletin.id)):
        steps.append({"date": _d(local_date(issued)), "what": f"通报（{number}）"})
    steps.sort(key=lambda s: s["date"] or "")
    return {
        "hazard": {"code": hazard.code, "title": hazard.title, "level": LEVELS.get(hazard.level or "", "未定级"),
                   "industry": hazard.industry, "location": hazard.location, "description": hazard.description,
                   "region": region_name(session, hazard.region_code[:6]), "deadline": _d(hazard.deadline),
                   "discovered_on": _d(local_date(hazard.discovered_at)),
                   "listing": LISTING.get(hazard.listing_level or "", "未挂牌"),
                   "listing_body": hazard.listing_body or "—"},
        "enterprise": {"name": ent.name if ent else "（未确定）", "uscc": ent.uscc if ent else "—",
                       "department": (ent.supervising_department if ent else None) or "（未登记）",
                       "official": (ent.responsible_official if ent else None) or "（未登记）"},
        "timeline": timeline,
        "steps": steps,
        "referred_on": _d(local_date(event.occurred_at)),
    }
